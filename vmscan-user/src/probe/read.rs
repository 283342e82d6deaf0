//! Reads the kernel side's aggregates (summing per-CPU values) into
//! [`Totals`], and drains the episode ring buffer into [`Event`]s.

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf, Pod,
    maps::{IterableMap as _, MapData, PerCpuArray, PerCpuHashMap, RingBuf, StackTraceMap},
};
use std::collections::BTreeMap;

use vmscan_common::{Event, RefaultAgg, RefaultKey, agg::Field};

use crate::model::{
    input::Bracket,
    totals::{Table, Totals, aggregates},
};

/// A table of [`Totals`] read from its map: a per-CPU array or a per-CPU
/// hash, summed over CPUs.
pub trait ReadTable: Table {
    type Map;
    fn open(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<Self::Map>;
    /// The table, reading only the slots `keep` accepts (hashes: every key).
    fn read(map: &Self::Map, name: &str, keep: &dyn Fn(u32) -> bool) -> anyhow::Result<Self>;
}

/// Which slots of a map to read: every slot of a map not kept per node,
/// else the slots of `nodes`.
fn slot_filter(node_of: Option<fn(u32) -> u32>, nodes: &[u32]) -> impl Fn(u32) -> bool + '_ {
    move |slot| node_of.is_none_or(|f| nodes.contains(&f(slot)))
}

/// A per-CPU map with its batch reader.
pub struct Batched<M> {
    map: M,
    batch: super::batch::Batch,
}

impl<T: Pod + Field + Default + PartialEq> ReadTable for Vec<T> {
    type Map = Batched<PerCpuArray<MapData, T>>;
    fn open(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<Self::Map> {
        Ok(Batched {
            map: PerCpuArray::try_from(take_map(ebpf, name)?)
                .with_context(|| format!("map {name}"))?,
            batch: super::batch::Batch::new::<u32, T>()?,
        })
    }
    /// Each kept slot read once (all CPUs); counters only grow. Runs of
    /// kept slots go in one batch each.
    fn read(m: &Self::Map, name: &str, keep: &dyn Fn(u32) -> bool) -> anyhow::Result<Self> {
        let len = m.map.len();
        let mut out = vec![T::default(); len as usize];
        let mut slot = 0;
        while slot < len {
            if !keep(slot) {
                slot += 1;
                continue;
            }
            let end = (slot..len).find(|&s| !keep(s)).unwrap_or(len);
            let batched = m.batch.array_run::<T>(m.map.map(), slot, end, |s, each| {
                let acc = &mut out[s as usize];
                each(&mut |v| acc.add(v));
            });
            if !batched {
                // What a refused run passed on is read again from scratch.
                out[slot as usize..end as usize].fill(T::default());
                m.batch.count_elements((end - slot) as usize);
                for s in slot..end {
                    let values = m
                        .map
                        .get(&s, 0)
                        .with_context(|| format!("reading map {name} slot {s}"))?;
                    for v in values.iter() {
                        out[s as usize].add(v);
                    }
                }
            }
            slot = end;
        }
        Ok(out)
    }
}

impl<K: Pod + Ord, V: Pod + Field + Default + PartialEq> ReadTable for BTreeMap<K, V> {
    type Map = Batched<PerCpuHashMap<MapData, K, V>>;
    fn open(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<Self::Map> {
        Ok(Batched {
            map: PerCpuHashMap::try_from(take_map(ebpf, name)?)
                .with_context(|| format!("map {name}"))?,
            batch: super::batch::Batch::new::<K, V>()?,
        })
    }
    /// In batches where the kernel has them; else key by key, where a key
    /// deleted between listing and lookup is skipped (vmscan never deletes:
    /// these maps only grow).
    fn read(m: &Self::Map, _name: &str, _keep: &dyn Fn(u32) -> bool) -> anyhow::Result<Self> {
        let mut out = BTreeMap::new();
        let batched = m.batch.hash::<K, V>(m.map.map(), |k, each| {
            let acc: &mut V = out.entry(k).or_default();
            each(&mut |v| acc.add(v));
        });
        if batched {
            return Ok(out);
        }
        out.clear();
        for entry in m.map.iter() {
            let Ok((k, values)) = entry else { continue };
            m.batch.count_elements(1);
            let mut acc = V::default();
            for v in values.iter() {
                acc.add(v);
            }
            out.insert(k, acc);
        }
        Ok(out)
    }
}

fn take_map(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<aya::maps::Map> {
    ebpf.take_map(name)
        .ok_or_else(|| anyhow!("map {name} missing from the eBPF object"))
}

macro_rules! declare_maps {
    ($( $(#[$doc:meta])* $f:ident : $ty:ty = $map:literal, $slots:expr, $node:expr; )*) => {
        /// The aggregate maps, one per [`Totals`] field.
        struct Maps {
            $( $f: <$ty as ReadTable>::Map, )*
        }

        impl Maps {
            fn open(ebpf: &mut Ebpf) -> anyhow::Result<Self> {
                Ok(Self { $( $f: <$ty as ReadTable>::open(ebpf, $map)?, )* })
            }

            /// Reads every map; per-node maps only for `nodes` (the other
            /// slots cannot have counted anything and stay zero).
            fn read(&self, nodes: &[u32]) -> anyhow::Result<Totals> {
                Ok(Totals { $( $f: <$ty as ReadTable>::read(&self.$f, $map, &slot_filter($node, nodes))?, )* })
            }

            fn enable_batches(&self, on: bool) {
                $( self.$f.batch.enable(on); )*
            }

            /// Each map's name and the value bytes copied out of it so far.
            fn copied(&self) -> Vec<(&'static str, u64)> {
                vec![$( ($map, self.$f.batch.copied()), )*]
            }

            /// Each map's name and why it is not read in batches (None: it is).
            fn unbatched(&self) -> Vec<(&'static str, Option<String>)> {
                vec![$( ($map, self.$f.batch.why_not()), )*]
            }
        }
    };
}
aggregates!(declare_maps);

/// The nodes whose per-node slots are read: the online nodes (read again
/// each time: hotplug) and the overflow slot. A machine with one node reads
/// 2 of the 65 node slots of each per-node map, so a reading costs a few
/// hundred map lookups instead of thousands, each copying every CPU's value.
fn nodes_to_read() -> Vec<u32> {
    let mut nodes = super::system::online_nodes();
    nodes.retain(|&n| n < vmscan_common::NODE_OVERFLOW);
    nodes.push(vmscan_common::NODE_OVERFLOW);
    nodes
}

/// Owns the aggregate maps and the stack map (taken out of the Ebpf object;
/// the programs keep using them).
pub struct Reader {
    maps: Maps,
    /// Refaults per (node, file/anon) where nothing names cgroups: folded
    /// into [`Totals::refault`] under cgroup id 0.
    refault_node: <Vec<RefaultAgg> as ReadTable>::Map,
    stacks: StackTraceMap<MapData>,
    /// Stacks STACKS refused for a hash collision (ids offset by
    /// STACK_ENTRIES).
    spill: StackTraceMap<MapData>,
    /// The maps read element by element when this was last said (None:
    /// not yet said).
    unbatched: std::cell::RefCell<Option<Vec<String>>>,
}

impl Reader {
    pub fn new(ebpf: &mut Ebpf) -> anyhow::Result<Self> {
        let maps = Maps::open(ebpf)?;
        let refault_node = <Vec<RefaultAgg> as ReadTable>::open(ebpf, "REFAULT_NODE")?;
        let stacks = StackTraceMap::try_from(take_map(ebpf, "STACKS")?).context("map STACKS")?;
        let spill =
            StackTraceMap::try_from(take_map(ebpf, "STACKS_SPILL")?).context("map STACKS_SPILL")?;
        Ok(Self {
            maps,
            refault_node,
            stacks,
            spill,
            unbatched: std::cell::RefCell::new(None),
        })
    }

    /// Instruction pointers of a kernel stack id (innermost first): ids
    /// from STACK_ENTRIES on are STACKS_SPILL's.
    pub fn stack(&self, id: i32) -> Option<Vec<u64>> {
        let id = u32::try_from(id).ok()?;
        let (map, id) = match id.checked_sub(vmscan_common::STACK_ENTRIES) {
            Some(spilled) => (&self.spill, spilled),
            None => (&self.stacks, id),
        };
        map.get(&id, 0)
            .ok()
            .map(|st| st.frames().iter().map(|f| f.ip).collect())
    }

    /// Reads the maps in batches, or element by element (the benchmark
    /// compares the two).
    pub fn enable_batches(&self, on: bool) {
        self.maps.enable_batches(on);
        self.refault_node.batch.enable(on);
    }

    /// Each map's name and why it is not read in batches (None: it is).
    pub fn unbatched(&self) -> Vec<(&'static str, Option<String>)> {
        let mut all = self.maps.unbatched();
        all.push(("REFAULT_NODE", self.refault_node.batch.why_not()));
        all
    }

    /// Each map's name and the value bytes copied out of it so far.
    pub fn copied(&self) -> Vec<(&'static str, u64)> {
        let mut all = self.maps.copied();
        all.push(("REFAULT_NODE", self.refault_node.batch.copied()));
        all
    }

    /// Whether every map is read in batches.
    pub fn all_batched(&self) -> bool {
        self.unbatched().iter().all(|(_, why)| why.is_none())
    }

    /// The aggregates alone, without the /proc/vmstat bracket.
    pub fn read_maps(&self) -> anyhow::Result<Totals> {
        let nodes = nodes_to_read();
        let mut t = self.maps.read(&nodes)?;
        let by_node =
            <Vec<RefaultAgg> as ReadTable>::read(&self.refault_node, "REFAULT_NODE", &|slot| {
                nodes.contains(&(slot / 2))
            })?;
        fold_refault_nodes(&mut t.refault, &by_node);
        Ok(t)
    }

    /// A consistent-enough snapshot of the aggregates (each slot read once;
    /// counters only grow), with the checked /proc/vmstat counters read just
    /// before and just after, for the self-check.
    pub fn read_bracketed(&self) -> anyhow::Result<(Totals, Bracket)> {
        let before = super::sample::checked_vmstat();
        let t = self.read_maps()?;
        self.say_how_read();
        Ok((
            t,
            Bracket {
                before,
                after: super::sample::checked_vmstat(),
            },
        ))
    }
}

impl Reader {
    /// Says (-v) how the maps are read, after the first reading and again
    /// when a map stops taking batches.
    fn say_how_read(&self) {
        let all = self.unbatched();
        let unbatched: Vec<String> = all
            .iter()
            .filter_map(|(n, why)| Some(format!("{n} ({})", why.as_ref()?)))
            .collect();
        let mut said = self.unbatched.borrow_mut();
        if said.as_ref() == Some(&unbatched) {
            return;
        }
        let whys: std::collections::BTreeSet<&str> =
            all.iter().filter_map(|(_, w)| w.as_deref()).collect();
        if unbatched.is_empty() {
            log::info!(
                "the {} aggregate maps are read in batches (BPF_MAP_LOOKUP_BATCH)",
                all.len()
            );
        } else if unbatched.len() == all.len() && whys.len() == 1 {
            log::info!(
                "the {} aggregate maps are read element by element ({})",
                all.len(),
                whys.first().copied().unwrap_or_default()
            );
        } else {
            log::info!(
                "{} of the {} aggregate maps read element by element: {}",
                unbatched.len(),
                all.len(),
                unbatched.join(", ")
            );
        }
        *said = Some(unbatched);
    }
}

/// Adds REFAULT_NODE's slots (node * 2 + file) to the refaults under
/// cgroup id 0. Each only grows, so the sum does too.
fn fold_refault_nodes(refault: &mut BTreeMap<RefaultKey, RefaultAgg>, by_node: &[RefaultAgg]) {
    for (slot, a) in (0u32..).zip(by_node) {
        if *a == RefaultAgg::default() {
            continue;
        }
        let key = RefaultKey {
            cgroup_id: 0,
            node: slot / 2,
            file: slot % 2,
        };
        refault.entry(key).or_default().add(a);
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
        let map = ebpf
            .take_map("EVENTS")
            .ok_or_else(|| anyhow!("map EVENTS missing"))?;
        let ring = RingBuf::try_from(map).context("map EVENTS")?;
        // SAFETY: the RingBuf owns its map fd and returns the same open fd
        // for as long as it lives, which is as long as the AsyncFd.
        let ring = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE)
        }
        .map_err(|e| anyhow!("polling EVENTS: {}", e))?;
        Ok(Self { ring, delay })
    }

    /// Waits until records are ready, then drains them all into `out`.
    pub async fn drain_ready(&mut self, out: &mut Vec<Event>) -> anyhow::Result<()> {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        let mut guard = self
            .ring
            .readable_mut()
            .await
            .context("waiting on EVENTS")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use vmscan_common::refault_node_index;

    #[test]
    fn refaults_by_node_fold_into_cgroup_zero() {
        let mut by_node = vec![RefaultAgg::default(); vmscan_common::REFAULT_NODE_SLOTS as usize];
        by_node[refault_node_index(1, 1) as usize] = RefaultAgg {
            pages: 5,
            folios: 4,
            ..Default::default()
        };
        by_node[refault_node_index(0, 0) as usize].activated = 2;
        let mut refault = BTreeMap::new();
        let k = |node, file| RefaultKey {
            cgroup_id: 0,
            node,
            file,
        };
        // An entry the hash already holds is added to, not replaced.
        refault.insert(
            k(1, 1),
            RefaultAgg {
                pages: 1,
                folios: 1,
                ..Default::default()
            },
        );
        fold_refault_nodes(&mut refault, &by_node);
        assert_eq!(refault.len(), 2);
        assert_eq!((refault[&k(1, 1)].pages, refault[&k(1, 1)].folios), (6, 5));
        assert_eq!(refault[&k(0, 0)].activated, 2);
        // A node past the table goes to the overflow slot.
        assert_eq!(
            refault_node_index(1000, 1),
            vmscan_common::NODE_OVERFLOW * 2 + 1
        );
    }
}
