//! The recording format: a versioned, append-only file of the event stream
//! and the kernel samples, which replays into the same model as live.
//!
//! ```text
//! file    = magic "VMSCANREC\n" | u16 version | u32 header_len | header (JSON) | record*
//! record  = u8 kind | u32 len | payload[len] | u32 crc32(kind, len, payload)
//! kind 1  = tick: f64 secs | u32 totals_len | totals (sparse) | sample (JSON)
//! kind 2  = events: n x Event (vmscan_common::Event, 96 bytes each)
//! kind 3  = end: u64 records written before it (a clean close)
//! ```
//! All integers little-endian. A file cut short by a crash replays up to its
//! last complete record, and the reader says where it stopped.

use std::{
    io::{BufWriter, Read, Write},
    path::Path,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use vmscan_common::{Event, agg::Agg};

use crate::model::{
    input::Sample,
    totals::{Table, Totals, aggregates},
};

pub const MAGIC: &[u8; 10] = b"VMSCANREC\n";
/// 2: per-(node, reclaimer) shrink slots are reclaimer-major and a seventh
/// reclaimer (proactive) exists; version 1 files are read and re-indexed.
/// 3: LAZYFREE and DEACTIVATE are kept per node (and list or type); older
/// files' totals of them are read into the node-overflow slot (node not
/// known).
pub const VERSION: u16 = 3;
/// Largest header or record vmscan reads: a bound on allocation for bad input.
pub const MAX_RECORD: u32 = 64 << 20;

pub const KIND_TICK: u8 = 1;
pub const KIND_EVENTS: u8 = 2;
pub const KIND_END: u8 = 3;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u16,
    pub vmscan_version: String,
    pub kernel: String,
    pub hostname: String,
    pub numa_nodes: Vec<u32>,
    pub page_size: u64,
    /// Wall-clock start (Unix seconds) and the monotonic clock then (ns), to
    /// place event timestamps in time.
    pub start_unix_secs: f64,
    pub start_monotonic_ns: u64,
    /// Hook names and how they attached ("" when unavailable).
    pub hooks: Vec<(vmscan_common::HookId, String, String)>,
    /// How the recorded kernel counts reclaim (absent in files made before
    /// vmscan asked the kernel: the defaults of that time apply).
    #[serde(default)]
    pub counting: Option<crate::model::counters::Counting>,
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Tick {
        secs: f64,
        totals: Box<Totals>,
        sample: Box<Sample>,
    },
    Events(Vec<Event>),
    End {
        records: u64,
    },
}

/// Why reading stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    NotARecording,
    NewerVersion(u16),
    Truncated { offset: u64 },
    Corrupt { offset: u64, why: String },
    Io(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotARecording => write!(f, "not a vmscan recording (bad magic at offset 0)"),
            Self::NewerVersion(v) => write!(
                f,
                "recording format version {v} is newer than this vmscan reads ({VERSION}); upgrade vmscan"
            ),
            Self::Truncated { offset } => write!(
                f,
                "truncated record at offset {offset}: the file was cut short (replayed up to there)"
            ),
            Self::Corrupt { offset, why } => write!(f, "corrupt record at offset {offset}: {why}"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

// ------------------------------------------------------------------ encoding

fn put_u32(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_le_bytes());
}

fn pod_bytes<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: T is one of vmscan_common's #[repr(C)] integer records with
    // explicit padding: every byte is initialised.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

fn pod_read<T: Copy + Default>(b: &[u8]) -> Option<T> {
    if b.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: T is plain integers (any bit pattern valid); read_unaligned
    // copes with any alignment; the length was checked.
    Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) })
}

/// How one [`Totals`] table is written and read back in a tick record.
/// Arrays are sparse: (slots, non-zero count, then index + value for each
/// non-zero slot); hashes: (count, then key + value for each entry).
trait RecordTable: Table {
    fn put(&self, o: &mut Vec<u8>);
    /// `expect` is this vmscan's slot count: a file from a vmscan with fewer
    /// slots (hooks added since) reads with the new slots at zero; more
    /// slots than this vmscan knows is an error.
    fn get(c: &mut Cur, expect: u32) -> Result<Self, String>;
}

impl<T: Agg> RecordTable for Vec<T> {
    fn put(&self, o: &mut Vec<u8>) {
        let zero = T::default();
        let nz: Vec<(usize, &T)> = self
            .iter()
            .enumerate()
            .filter(|(_, x)| **x != zero)
            .collect();
        put_u32(o, self.len() as u32);
        put_u32(o, nz.len() as u32);
        for (i, x) in nz {
            put_u32(o, i as u32);
            o.extend_from_slice(pod_bytes(x));
        }
    }
    fn get(c: &mut Cur, expect: u32) -> Result<Self, String> {
        let expect = expect as usize;
        let len = c.u32()? as usize;
        if len > expect {
            return Err(format!(
                "array of {len} slots where this vmscan has {expect}"
            ));
        }
        let n = c.u32()? as usize;
        if n > len {
            return Err(format!("{n} non-zero slots in an array of {len}"));
        }
        let mut v = vec![T::default(); expect];
        for _ in 0..n {
            let i = c.u32()? as usize;
            let x = c.pod::<T>()?;
            if i >= len {
                return Err(format!("slot {i} out of range {len}"));
            }
            v[i] = x;
        }
        Ok(v)
    }
}

impl<K: Copy + Default + Ord, V: Agg> RecordTable for BTreeMap<K, V> {
    fn put(&self, o: &mut Vec<u8>) {
        put_u32(o, self.len() as u32);
        for (k, v) in self {
            o.extend_from_slice(pod_bytes(k));
            o.extend_from_slice(pod_bytes(v));
        }
    }
    fn get(c: &mut Cur, _expect: u32) -> Result<Self, String> {
        let n = c.u32()? as usize;
        let each = std::mem::size_of::<K>() + std::mem::size_of::<V>();
        if n.saturating_mul(each) > c.b.len() - c.at {
            return Err(format!("{n} map entries do not fit the record"));
        }
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = c.pod::<K>()?;
            let v = c.pod::<V>()?;
            m.insert(k, v);
        }
        Ok(m)
    }
}

macro_rules! declare_codec {
    ($( $(#[$doc:meta])* $f:ident : $ty:ty = $map:literal, $slots:expr, $node:expr; )*) => {
        /// The totals of a tick record, table by table in the order of
        /// [`aggregates!`](crate::model::totals).
        pub fn encode_totals(t: &Totals) -> Vec<u8> {
            let mut o = Vec::new();
            $( RecordTable::put(&t.$f, &mut o); )*
            o
        }

        /// Reads what [`encode_totals`] wrote. A record that ends before a
        /// table (written by a vmscan that did not have it yet) leaves that
        /// table and the ones after it empty.
        pub fn decode_totals(b: &[u8]) -> Result<Totals, String> {
            let mut c = Cur { b, at: 0 };
            let t = Totals {
                $( $f: if c.at == b.len() { Table::empty($slots) } else { <$ty as RecordTable>::get(&mut c, $slots)? }, )*
            };
            if c.at != b.len() {
                return Err(format!("{} unexpected bytes after the totals", b.len() - c.at));
            }
            Ok(t)
        }
    };
}
aggregates!(declare_codec);

struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or("record ends inside a field")?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn pod<T: Copy + Default>(&mut self) -> Result<T, String> {
        pod_read(self.take(std::mem::size_of::<T>())?).ok_or_else(|| "short value".to_owned())
    }
}

/// [`decode_totals`] for a file of format `version`.
pub fn decode_totals_of(b: &[u8], version: u16) -> Result<Totals, String> {
    let mut t = decode_totals(b)?;
    if version == 1 {
        t.shrink_inactive = shrink_from_v1(&t.shrink_inactive);
        t.shrink_active = shrink_from_v1(&t.shrink_active);
    }
    if version <= 2 {
        batches_from_v2(&mut t);
    }
    Ok(t)
}

/// Version 2 kept LAZYFREE as one slot and DEACTIVATE as one slot a batch,
/// with no node: each total goes to the node-overflow slot (its pages still
/// count in pglazyfree / pgdeactivate; no node's list flows take them). The
/// type of a deactivated page was not kept either: counted as file.
fn batches_from_v2(t: &mut Totals) {
    use vmscan_common::{NODE_OVERFLOW, deactivate, deactivate_index, lazyfree_index};
    let lazy = std::mem::take(&mut t.lazyfree[0]);
    t.lazyfree[lazyfree_index(NODE_OVERFLOW, 0) as usize] += lazy;
    for batch in [deactivate::COLD, deactivate::FILE] {
        let pages = std::mem::take(&mut t.deactivate[batch as usize]);
        t.deactivate[deactivate_index(batch, NODE_OVERFLOW, 1) as usize] += pages;
    }
}

/// Version 1 kept per-(node, reclaimer, file) slots node-major with six
/// reclaimers: `(node * 6 + reclaimer) * 2 + file`.
fn shrink_from_v1<T: Agg>(v1: &[T]) -> Vec<T> {
    const V1_RECLAIMERS: u32 = 6;
    let mut out = vec![T::default(); vmscan_common::SHRINK_SLOTS as usize];
    for (i, x) in v1.iter().enumerate().filter(|(_, x)| **x != T::default()) {
        let i = i as u32;
        let (file, rec, node) = (i % 2, (i / 2) % V1_RECLAIMERS, i / (2 * V1_RECLAIMERS));
        if let Some(slot) = out.get_mut(vmscan_common::shrink_index(node, rec, file) as usize) {
            *slot = *x;
        }
    }
    out
}

// ------------------------------------------------------------------- writer

pub struct Writer<W: Write> {
    out: BufWriter<W>,
    pub bytes: u64,
    pub records: u64,
    pub events: u64,
}

impl Writer<std::fs::File> {
    /// Creates `path` with mode 0600 (unless `mode` says otherwise); refuses
    /// to overwrite an existing file unless `force`.
    pub fn create(path: &Path, header: &Header, force: bool, mode: u32) -> anyhow::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).mode(mode);
        if force {
            o.create(true).truncate(true);
        } else {
            o.create_new(true);
        }
        let f = o.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::anyhow!("{} exists; pass --force to overwrite it", path.display())
            }
            _ => anyhow::anyhow!("creating {}: {e}", path.display()),
        })?;
        Writer::new(f, header)
    }
}

impl<W: Write> Writer<W> {
    pub fn new(inner: W, header: &Header) -> anyhow::Result<Self> {
        let mut out = BufWriter::new(inner);
        let h = serde_json::to_vec(header)?;
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&(h.len() as u32).to_le_bytes())?;
        out.write_all(&h)?;
        Ok(Self {
            out,
            bytes: (MAGIC.len() + 6 + h.len()) as u64,
            records: 0,
            events: 0,
        })
    }

    fn record(&mut self, kind: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[kind]);
        crc.update(&(payload.len() as u32).to_le_bytes());
        crc.update(payload);
        self.out.write_all(&[kind])?;
        self.out.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.out.write_all(payload)?;
        self.out.write_all(&crc.finalize().to_le_bytes())?;
        self.bytes += 9 + payload.len() as u64;
        self.records += 1;
        Ok(())
    }

    pub fn tick(&mut self, secs: f64, totals: &Totals, sample: &Sample) -> anyhow::Result<()> {
        let t = encode_totals(totals);
        let mut p = Vec::with_capacity(t.len() + 4096);
        p.extend_from_slice(&secs.to_le_bytes());
        put_u32(&mut p, t.len() as u32);
        p.extend_from_slice(&t);
        p.extend_from_slice(&serde_json::to_vec(sample)?);
        self.record(KIND_TICK, &p)?;
        // A tick is a natural point to make the file durable up to here.
        self.out.flush()?;
        Ok(())
    }

    pub fn events(&mut self, evs: &[Event]) -> std::io::Result<()> {
        if evs.is_empty() {
            return Ok(());
        }
        let mut p = Vec::with_capacity(std::mem::size_of_val(evs));
        for e in evs {
            p.extend_from_slice(pod_bytes(e));
        }
        self.events += evs.len() as u64;
        self.record(KIND_EVENTS, &p)
    }

    /// Writes the end record and flushes: a cleanly closed file.
    pub fn finish(mut self) -> std::io::Result<W> {
        let n = self.records;
        self.record(KIND_END, &n.to_le_bytes())?;
        self.out.flush()?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

// ------------------------------------------------------------------- reader

pub struct Reader<R: Read> {
    inp: R,
    pub offset: u64,
    pub header: Header,
    /// The file's format version.
    pub version: u16,
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<bool, std::io::Error> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => return Ok(false),
            n => got += n,
        }
    }
    Ok(true)
}

impl<R: Read> Reader<R> {
    pub fn new(mut inp: R) -> Result<Self, ReadError> {
        let mut magic = [0u8; 10];
        match read_exact_or(&mut inp, &mut magic) {
            Ok(true) if &magic == MAGIC => {}
            Ok(_) => return Err(ReadError::NotARecording),
            Err(e) => return Err(ReadError::Io(e.to_string())),
        }
        let mut v = [0u8; 6];
        if !read_exact_or(&mut inp, &mut v).map_err(|e| ReadError::Io(e.to_string()))? {
            return Err(ReadError::Truncated { offset: 10 });
        }
        let version = u16::from_le_bytes([v[0], v[1]]);
        if version > VERSION {
            return Err(ReadError::NewerVersion(version));
        }
        if version == 0 {
            return Err(ReadError::Corrupt {
                offset: 10,
                why: "format version 0".into(),
            });
        }
        let hlen = u32::from_le_bytes([v[2], v[3], v[4], v[5]]);
        if hlen > MAX_RECORD {
            return Err(ReadError::Corrupt {
                offset: 12,
                why: format!("header length {hlen} is over {MAX_RECORD}"),
            });
        }
        let mut h = vec![0u8; hlen as usize];
        if !read_exact_or(&mut inp, &mut h).map_err(|e| ReadError::Io(e.to_string()))? && hlen > 0 {
            return Err(ReadError::Truncated { offset: 16 });
        }
        let header: Header = serde_json::from_slice(&h).map_err(|e| ReadError::Corrupt {
            offset: 16,
            why: format!("header: {e}"),
        })?;
        Ok(Self {
            inp,
            offset: 16 + hlen as u64,
            header,
            version,
        })
    }

    /// The next record; Ok(None) at a clean end of file.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        let at = self.offset;
        let mut head = [0u8; 5];
        let mut got = 0;
        while got < 5 {
            match self.inp.read(&mut head[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(ReadError::Truncated { offset: at }),
                Ok(n) => got += n,
                Err(e) => return Err(ReadError::Io(e.to_string())),
            }
        }
        let kind = head[0];
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        if !(KIND_TICK..=KIND_END).contains(&kind) {
            return Err(ReadError::Corrupt {
                offset: at,
                why: format!("unknown record kind {kind}"),
            });
        }
        if len > MAX_RECORD {
            return Err(ReadError::Corrupt {
                offset: at,
                why: format!("record length {len} is over {MAX_RECORD}"),
            });
        }
        let mut payload = vec![0u8; len as usize + 4];
        match read_exact_or(&mut self.inp, &mut payload) {
            Ok(true) => {}
            Ok(false) => return Err(ReadError::Truncated { offset: at }),
            Err(e) => return Err(ReadError::Io(e.to_string())),
        }
        let (body, crc) = payload.split_at(len as usize);
        let mut h = crc32fast::Hasher::new();
        h.update(&head);
        h.update(body);
        if h.finalize().to_le_bytes() != crc {
            return Err(ReadError::Corrupt {
                offset: at,
                why: "checksum mismatch".into(),
            });
        }
        self.offset += 9 + len as u64;
        let corrupt = |why: String| ReadError::Corrupt { offset: at, why };
        Ok(Some(match kind {
            KIND_TICK => {
                let mut c = Cur { b: body, at: 0 };
                let secs = f64::from_le_bytes(
                    c.take(8)
                        .map_err(corrupt)?
                        .try_into()
                        .map_err(|_| corrupt("secs".into()))?,
                );
                let tl = c.u32().map_err(corrupt)? as usize;
                let totals = decode_totals_of(c.take(tl).map_err(corrupt)?, self.version)
                    .map_err(corrupt)?;
                let sample: Sample = serde_json::from_slice(&body[c.at..])
                    .map_err(|e| corrupt(format!("sample: {e}")))?;
                if !secs.is_finite() || secs < 0.0 {
                    return Err(corrupt(format!("interval {secs}")));
                }
                Record::Tick {
                    secs,
                    totals: Box::new(totals),
                    sample: Box::new(sample),
                }
            }
            KIND_EVENTS => {
                let sz = std::mem::size_of::<Event>();
                if body.len() % sz != 0 {
                    return Err(corrupt(format!(
                        "{} bytes is not a whole number of events",
                        body.len()
                    )));
                }
                Record::Events(
                    body.chunks_exact(sz)
                        .filter_map(pod_read::<Event>)
                        .collect(),
                )
            }
            _ => {
                let n: [u8; 8] = body.try_into().map_err(|_| corrupt("end record".into()))?;
                Record::End {
                    records: u64::from_le_bytes(n),
                }
            }
        }))
    }
}

/// Opens a recording, with the file named in errors.
pub fn open(path: &Path) -> anyhow::Result<Reader<std::io::BufReader<std::fs::File>>> {
    let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if f.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        anyhow::bail!("{}: empty file, not a vmscan recording", path.display());
    }
    Reader::new(std::io::BufReader::new(f)).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmscan_common::{FolioAgg, MemcgLruKey, event, shrink_index};

    fn sample_file() -> Vec<u8> {
        let header = Header {
            format_version: VERSION,
            kernel: "6.18".into(),
            page_size: 4096,
            ..Default::default()
        };
        let mut w = Writer::new(Vec::new(), &header).unwrap();
        let mut t = Totals::default();
        t.hits[3] = 7;
        t.shrink_inactive[shrink_index(0, 2, 1) as usize].reclaimed = 115_205;
        t.memcg_insert.insert(
            MemcgLruKey {
                cgroup_id: 9,
                node: 0,
                lru: 2,
            },
            FolioAgg {
                folios: 1,
                pages: 4,
            },
        );
        w.tick(
            1.0,
            &t,
            &Sample {
                ts_ns: 5,
                ..Default::default()
            },
        )
        .unwrap();
        w.events(&[Event {
            kind: event::KSWAPD_WAKE,
            nid: 1,
            ts_ns: 6,
            ..Default::default()
        }])
        .unwrap();
        w.finish().unwrap()
    }

    fn read_all(b: &[u8]) -> (Vec<Record>, Option<ReadError>) {
        let mut r = match Reader::new(b) {
            Ok(r) => r,
            Err(e) => return (vec![], Some(e)),
        };
        let mut out = vec![];
        loop {
            match r.next_record() {
                Ok(Some(x)) => out.push(x),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn version_1_shrink_slots_are_reindexed() {
        // Version 1: node-major, six reclaimers. Node 1, memcg (2), file.
        let mut v1 = Totals::default();
        let old = (6 + 2) * 2 + 1;
        v1.shrink_inactive[old].reclaimed = 42;
        v1.shrink_active[old].deactivated = 7;
        let b = encode_totals(&v1);
        let t = decode_totals_of(&b, 1).unwrap();
        let new = shrink_index(1, vmscan_common::reclaimer::MEMCG, 1) as usize;
        assert_ne!(old, new);
        assert_eq!(t.shrink_inactive[new].reclaimed, 42);
        assert_eq!(t.shrink_active[new].deactivated, 7);
        assert_eq!(
            t.shrink_inactive.iter().filter(|a| a.reclaimed > 0).count(),
            1
        );
        assert_eq!(
            decode_totals_of(&b, VERSION).unwrap().shrink_inactive[old].reclaimed,
            42,
            "current files are read as written"
        );
    }

    #[test]
    fn version_2_batch_totals_go_to_the_overflow_node() {
        use vmscan_common::{NODE_OVERFLOW, deactivate, deactivate_index, lazyfree_index};
        // Version 2 wrote LAZYFREE with 1 slot and DEACTIVATE with 2 (batch).
        let v2 = Totals {
            lazyfree: vec![513],
            deactivate: vec![4096, 2048],
            ..Totals::default()
        };
        let b = encode_totals(&v2);
        let t = decode_totals_of(&b, 2).unwrap();
        assert_eq!(t.lazyfree.len(), vmscan_common::LAZYFREE_SLOTS as usize);
        assert_eq!(t.lazyfree[lazyfree_index(NODE_OVERFLOW, 0) as usize], 513);
        assert_eq!(t.lazyfree.iter().sum::<u64>(), 513);
        assert_eq!(
            t.deactivate[deactivate_index(deactivate::COLD, NODE_OVERFLOW, 1) as usize],
            4096
        );
        assert_eq!(
            t.deactivate[deactivate_index(deactivate::FILE, NODE_OVERFLOW, 1) as usize],
            2048
        );
        assert_eq!(t.deactivate.iter().sum::<u64>(), 6144);
        // A current file's slot 0 is node 0's.
        let now = decode_totals_of(&b, VERSION).unwrap();
        assert_eq!(now.lazyfree[lazyfree_index(0, 0) as usize], 513);
    }

    #[test]
    fn round_trip() {
        let (recs, err) = read_all(&sample_file());
        assert_eq!(err, None);
        assert_eq!(recs.len(), 3);
        match &recs[0] {
            Record::Tick {
                secs,
                totals,
                sample,
            } => {
                assert_eq!(*secs, 1.0);
                assert_eq!(totals.hits[3], 7);
                assert_eq!(
                    totals.shrink_inactive[shrink_index(0, 2, 1) as usize].reclaimed,
                    115_205
                );
                assert_eq!(totals.memcg_insert.len(), 1);
                assert_eq!(sample.ts_ns, 5);
            }
            r => panic!("{r:?}"),
        }
        assert!(matches!(&recs[1], Record::Events(e) if e.len() == 1 && e[0].nid == 1));
        assert_eq!(recs[2], Record::End { records: 2 });
    }

    #[test]
    fn truncation_at_every_byte_replays_a_prefix_and_says_where() {
        let full = sample_file();
        let header_end = 16 + u32::from_le_bytes(full[12..16].try_into().unwrap()) as usize;
        for cut in 0..full.len() {
            let (recs, err) = read_all(&full[..cut]);
            if cut < 10 {
                assert_eq!(err, Some(ReadError::NotARecording), "cut {cut}");
            } else if cut < header_end {
                assert!(
                    matches!(
                        err,
                        Some(ReadError::Truncated { .. }) | Some(ReadError::Corrupt { .. })
                    ),
                    "cut {cut}: {err:?}"
                );
            } else {
                match err {
                    None => assert!(cut == header_end || recs.len() <= 3),
                    Some(ReadError::Truncated { offset }) => {
                        assert!(offset as usize >= header_end && offset as usize <= cut)
                    }
                    Some(e) => panic!("cut {cut}: {e}"),
                }
            }
        }
    }

    /// Deterministic mutation fuzzing of the reader: random byte flips,
    /// insertions and deletions must end in a record or an error, never a
    /// panic, and never allocate past MAX_RECORD (the length checks).
    #[test]
    fn mutated_files_never_panic() {
        let base = sample_file();
        let mut x: u64 = 0x243f_6a88_85a3_08d3;
        let mut rnd = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        for _ in 0..20_000 {
            let mut f = base.clone();
            for _ in 0..1 + rnd(4) {
                match rnd(3) {
                    0 => {
                        let i = rnd(f.len());
                        f[i] = rnd(256) as u8;
                    }
                    1 => {
                        let i = rnd(f.len());
                        f.insert(i, rnd(256) as u8);
                    }
                    _ => {
                        if f.len() > 1 {
                            let i = rnd(f.len());
                            f.remove(i);
                        }
                    }
                }
            }
            let _ = read_all(&f);
        }
    }

    #[test]
    fn corruption_is_detected_not_replayed() {
        let mut f = sample_file();
        let header_end = 16 + u32::from_le_bytes(f[12..16].try_into().unwrap()) as usize;
        f[header_end + 20] ^= 0x55;
        let (recs, err) = read_all(&f);
        assert!(recs.is_empty());
        assert!(
            matches!(err, Some(ReadError::Corrupt { offset, .. }) if offset as usize == header_end),
            "{err:?}"
        );
        let mut newer = sample_file();
        newer[10] = 9;
        assert_eq!(read_all(&newer).1, Some(ReadError::NewerVersion(9)));
        let mut huge = sample_file();
        huge[header_end + 1..header_end + 5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read_all(&huge).1, Some(ReadError::Corrupt { .. })));
        assert_eq!(
            read_all(b"hello world, not vmscan").1,
            Some(ReadError::NotARecording)
        );
    }
}
