//! Reads the kernel side's aggregates (summing per-CPU values) into
//! [`Totals`], and drains the episode ring buffer into [`Event`]s.

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf, Pod,
    maps::{MapData, PerCpuArray, PerCpuHashMap, RingBuf, StackTraceMap},
};
use vmscan_common::{AccessAgg, AccessKey, Event, FolioAgg, MemcgLruKey, IsolateAgg, ShrinkActiveAgg, ShrinkInactiveAgg, ThrottleAgg};

use crate::model::totals::Totals;

/// Owns the aggregate maps (taken out of the Ebpf object; the programs keep
/// using them).
pub struct Reader {
    hits: PerCpuArray<MapData, u64>,
    lost: PerCpuArray<MapData, u64>,
    isolate: PerCpuArray<MapData, IsolateAgg>,
    shrink_inactive: PerCpuArray<MapData, ShrinkInactiveAgg>,
    shrink_active: PerCpuArray<MapData, ShrinkActiveAgg>,
    lru_insert: PerCpuArray<MapData, FolioAgg>,
    lru_activate: PerCpuArray<MapData, FolioAgg>,
    write_folio: PerCpuArray<MapData, u64>,
    throttle: PerCpuArray<MapData, ThrottleAgg>,
    hist: PerCpuArray<MapData, u64>,
    memcg_insert: PerCpuHashMap<MapData, MemcgLruKey, FolioAgg>,
    access: PerCpuHashMap<MapData, AccessKey, AccessAgg>,
    stacks: StackTraceMap<MapData>,
}

fn take<T: Pod>(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<PerCpuArray<MapData, T>> {
    let map = ebpf.take_map(name).ok_or_else(|| anyhow!("map {name} missing from the eBPF object"))?;
    PerCpuArray::try_from(map).with_context(|| format!("map {name}"))
}

/// Sums every slot of a per-CPU array with `add`.
fn sum_all<T: Pod + Default>(
    map: &PerCpuArray<MapData, T>,
    name: &str,
    add: impl Fn(&mut T, &T),
) -> anyhow::Result<Vec<T>> {
    map.iter()
        .map(|values| {
            let values = values.with_context(|| format!("reading map {name}"))?;
            let mut acc = T::default();
            for v in values.iter() {
                add(&mut acc, v);
            }
            Ok(acc)
        })
        .collect()
}

/// Sums the per-CPU values of every key of a per-CPU hash. A key deleted
/// between listing and lookup is skipped (vmscan never deletes: these maps
/// only grow).
fn sum_hash<K: Pod + Ord, V: Pod + Default>(
    map: &PerCpuHashMap<MapData, K, V>,
    add: impl Fn(&mut V, &V),
) -> std::collections::BTreeMap<K, V> {
    let mut m = std::collections::BTreeMap::new();
    for entry in map.iter() {
        let Ok((k, values)) = entry else { continue };
        let mut acc = V::default();
        for v in values.iter() {
            add(&mut acc, v);
        }
        m.insert(k, acc);
    }
    m
}

impl Reader {
    pub fn new(ebpf: &mut Ebpf) -> anyhow::Result<Self> {
        Ok(Self {
            hits: take(ebpf, "HITS")?,
            lost: take(ebpf, "LOST")?,
            isolate: take(ebpf, "ISOLATE")?,
            shrink_inactive: take(ebpf, "SHRINK_INACTIVE")?,
            shrink_active: take(ebpf, "SHRINK_ACTIVE")?,
            lru_insert: take(ebpf, "LRU_INSERT")?,
            lru_activate: take(ebpf, "LRU_ACTIVATE")?,
            write_folio: take(ebpf, "WRITE_FOLIO")?,
            throttle: take(ebpf, "THROTTLE")?,
            hist: take(ebpf, "HIST")?,
            memcg_insert: {
                let map = ebpf.take_map("LRU_INSERT_MEMCG").ok_or_else(|| anyhow!("map LRU_INSERT_MEMCG missing"))?;
                PerCpuHashMap::try_from(map).context("map LRU_INSERT_MEMCG")?
            },
            access: {
                let map = ebpf.take_map("ACCESS").ok_or_else(|| anyhow!("map ACCESS missing"))?;
                PerCpuHashMap::try_from(map).context("map ACCESS")?
            },
            stacks: {
                let map = ebpf.take_map("STACKS").ok_or_else(|| anyhow!("map STACKS missing"))?;
                StackTraceMap::try_from(map).context("map STACKS")?
            },
        })
    }

    /// Instruction pointers of a kernel stack id (innermost first).
    pub fn stack(&self, id: i32) -> Option<Vec<u64>> {
        let id = u32::try_from(id).ok()?;
        self.stacks.get(&id, 0).ok().map(|st| st.frames().iter().map(|f| f.ip).collect())
    }

    /// A consistent-enough snapshot: each slot is read once; counters only grow.
    pub fn read(&self) -> anyhow::Result<Totals> {
        use crate::model::totals::add;
        Ok(Totals {
            hits: sum_all(&self.hits, "HITS", |a, b| *a += b)?,
            lost: sum_all(&self.lost, "LOST", |a, b| *a += b)?,
            isolate: sum_all(&self.isolate, "ISOLATE", add::isolate)?,
            shrink_inactive: sum_all(&self.shrink_inactive, "SHRINK_INACTIVE", add::shrink_inactive)?,
            shrink_active: sum_all(&self.shrink_active, "SHRINK_ACTIVE", add::shrink_active)?,
            lru_insert: sum_all(&self.lru_insert, "LRU_INSERT", add::folio)?,
            lru_activate: sum_all(&self.lru_activate, "LRU_ACTIVATE", add::folio)?,
            write_folio: sum_all(&self.write_folio, "WRITE_FOLIO", |a, b| *a += b)?,
            throttle: sum_all(&self.throttle, "THROTTLE", add::throttle)?,
            hist: sum_all(&self.hist, "HIST", |a, b| *a += b)?,
            memcg_insert: sum_hash(&self.memcg_insert, add::folio),
            access: sum_hash(&self.access, |a: &mut AccessAgg, b: &AccessAgg| {
                a.calls += b.calls;
                a.pages += b.pages;
            }),
        })
    }
}

/// The episode ring buffer.
pub struct Events {
    ring: tokio::io::unix::AsyncFd<RingBuf<MapData>>,
    /// Test hook: wait this long before each drain (a slow consumer).
    delay: Option<std::time::Duration>,
}

impl Events {
    pub fn new(ebpf: &mut Ebpf, delay: Option<std::time::Duration>) -> anyhow::Result<Self> {
        let map = ebpf.take_map("EVENTS").ok_or_else(|| anyhow!("map EVENTS missing"))?;
        let ring = RingBuf::try_from(map).context("map EVENTS")?;
        // SAFETY: the RingBuf owns its map fd and returns the same open fd
        // for as long as it lives, which is as long as the AsyncFd.
        let ring = unsafe { tokio::io::unix::AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
            .map_err(|e| anyhow!("polling EVENTS: {}", e))?;
        Ok(Self { ring, delay })
    }

    /// Waits until records are ready, then drains them all into `out`.
    pub async fn drain_ready(&mut self, out: &mut Vec<Event>) -> anyhow::Result<()> {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        let mut guard = self.ring.readable_mut().await.context("waiting on EVENTS")?;
        drain(guard.get_inner_mut(), out);
        guard.clear_ready();
        Ok(())
    }

    /// Drains whatever is there without waiting.
    pub fn drain_now(&mut self, out: &mut Vec<Event>) {
        drain(self.ring.get_mut(), out);
    }
}

fn drain(ring: &mut RingBuf<MapData>, out: &mut Vec<Event>) {
    while let Some(item) = ring.next() {
        if item.len() >= std::mem::size_of::<Event>() {
            // SAFETY: Event is Pod and the record holds at least its size;
            // read_unaligned copes with any alignment.
            out.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<Event>()) });
        }
    }
}
