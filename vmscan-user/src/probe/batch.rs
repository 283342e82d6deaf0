//! Per-CPU maps read in batches (BPF_MAP_LOOKUP_BATCH, 5.6+) into buffers
//! reused from one interval to the next.
//!
//! Read one element at a time (aya's `get`, `iter`), every interval costs a
//! syscall per slot or key (a hash: two) and a fresh allocation of possible
//! CPUs x value size for each. In batches, a run of array slots or a few
//! hundred hash entries come back in one syscall, into one buffer. A kernel
//! that refuses the command for good (before 5.6, or a map type without
//! batch ops) has that map read element by element, as before, from then
//! on; a passing error does so for one reading only.

use std::{
    cell::{Cell, RefCell},
    io,
    os::fd::{AsFd as _, AsRawFd as _},
};

use aya::{Pod, maps::MapData};

/// The kernel's ENOTSUPP (include/linux/errno.h), which BPF_MAP_LOOKUP_BATCH
/// returns for a map type without batch operations (per-CPU arrays: the
/// lab's 5.10 has none, its 6.1 has them).
const ENOTSUPP: i32 = 524;

/// `enum bpf_cmd`'s BPF_MAP_LOOKUP_BATCH (include/uapi/linux/bpf.h).
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// The value bytes one batch asks for: a run of slots or hash entries is
/// read in pieces of at most this (but one entry at the least, and a hash
/// bucket whole), so the buffer does not grow with possible CPUs times the
/// map's length.
const BATCH_BYTES: usize = 128 << 10;

thread_local! {
    /// The keys and values of the batch being read, shared by every map
    /// (one reading at a time per thread), kept from one reading to the next.
    static BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `union bpf_attr`'s `batch` member.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// One BPF_MAP_LOOKUP_BATCH: the entries copied (also on ENOENT, the end
/// of the map) and the error, if any.
fn lookup_batch(
    map: &MapData,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: u32,
) -> (u32, Option<io::Error>) {
    let mut attr = BatchAttr {
        in_batch: in_batch.map_or(0, |b| b.as_ptr() as u64),
        out_batch: out_batch.as_mut_ptr() as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count,
        map_fd: map.fd().as_fd().as_raw_fd() as u32,
        ..BatchAttr::default()
    };
    // SAFETY: the buffers outlive the call and hold `count` keys and
    // values as the caller sized them; the kernel writes no further.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_BATCH,
            &mut attr as *mut BatchAttr,
            size_of::<BatchAttr>(),
        )
    };
    let err = (rc < 0).then(io::Error::last_os_error);
    (attr.count, err)
}

/// The batch read of one map: whether the kernel takes it, and the buffers.
pub struct Batch {
    /// Possible CPUs; the per-CPU values of an entry are this many strides.
    cpus: usize,
    /// One CPU's value, rounded up to 8 bytes as the kernel copies it.
    stride: usize,
    key_size: usize,
    /// Until the kernel refuses a batch for good (see `refuse`).
    works: Cell<bool>,
    /// Why the kernel refused a batch, once it has.
    refused: RefCell<Option<String>>,
    /// Value bytes the kernel copied out for this map, either way.
    copied: Cell<u64>,
}

impl Batch {
    pub fn new<K, V>() -> anyhow::Result<Self> {
        let cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow::anyhow!("{what}: {e}"))?;
        Ok(Self {
            cpus,
            stride: size_of::<V>().next_multiple_of(8),
            key_size: size_of::<K>(),
            works: Cell::new(std::env::var_os("VMSCAN_TEST_NO_BATCH").is_none()),
            refused: RefCell::new(None),
            copied: Cell::new(0),
        })
    }

    /// Why the map is not read in batches (None: it is, until the kernel
    /// refuses one).
    pub fn why_not(&self) -> Option<String> {
        if self.works.get() {
            return None;
        }
        Some(
            self.refused
                .borrow()
                .clone()
                .unwrap_or_else(|| "VMSCAN_TEST_NO_BATCH".to_owned()),
        )
    }

    /// Value bytes copied out of this map so far (all CPUs' values).
    pub fn copied(&self) -> u64 {
        self.copied.get()
    }

    /// Counts `entries` read element by element.
    pub fn count_elements(&self, entries: usize) {
        self.copied
            .set(self.copied.get() + (entries * self.stride * self.cpus) as u64);
    }

    /// Turns batches on (again: a refusal is forgotten) or off.
    pub fn enable(&self, on: bool) {
        self.works.set(on);
        *self.refused.borrow_mut() = None;
    }

    /// A batch failed: this reading of the map goes element by element.
    /// An error that says the kernel cannot batch this map (no op, no
    /// command, a rejected argument) turns batches off for good; a passing
    /// one (ENOMEM, EINTR, a busy bucket lock) only for this reading.
    fn refuse(&self, e: io::Error) {
        let lasting = matches!(
            e.raw_os_error(),
            None | Some(ENOTSUPP | libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL | libc::EPERM)
        );
        if !lasting {
            log::debug!("a batch lookup failed ({e}): this reading goes element by element");
            return;
        }
        self.works.set(false);
        *self.refused.borrow_mut() = Some(match e.raw_os_error() {
            // The kernel's ENOTSUPP, which libc does not name.
            Some(ENOTSUPP) => "ENOTSUPP: this kernel has no batch lookup for the map's type".into(),
            _ => e.to_string(),
        });
    }

    /// Entries per batch within [`BATCH_BYTES`].
    fn per_batch(&self) -> u32 {
        (BATCH_BYTES / (self.stride * self.cpus)).clamp(1, 1 << 16) as u32
    }

    /// One batch into the shared buffers, then `each` on every entry's key
    /// bytes and per-CPU value bytes: the entries copied, the position to
    /// go on from, and the error, if any.
    fn batch(
        &self,
        map: &MapData,
        from: Option<[u8; 4]>,
        count: u32,
        mut each: impl FnMut(&[u8], &[u8]),
    ) -> (u32, [u8; 4], Option<io::Error>) {
        BUFFERS.with_borrow_mut(|(keys, values)| {
            let entry = self.stride * self.cpus;
            let n = count as usize;
            if keys.len() < n * self.key_size {
                keys.resize(n * self.key_size, 0);
            }
            if values.len() < n * entry {
                values.resize(n * entry, 0);
            }
            let mut out = [0u8; 4];
            let (got, err) = lookup_batch(
                map,
                from.as_ref().map(|f| &f[..]),
                &mut out,
                keys,
                values,
                count,
            );
            let ok = err
                .as_ref()
                .is_none_or(|e| e.raw_os_error() == Some(libc::ENOENT));
            if ok {
                for i in 0..(got as usize).min(n) {
                    each(
                        &keys[i * self.key_size..(i + 1) * self.key_size],
                        &values[i * entry..(i + 1) * entry],
                    );
                }
            }
            (got, out, err)
        })
    }

    /// Each CPU's value of an entry, from its bytes in the value buffer.
    fn each_cpu<V: Pod>(&self, bytes: &[u8], mut f: impl FnMut(&V)) {
        for c in 0..self.cpus {
            // SAFETY: V is Pod and `bytes` holds `cpus` strides of at least
            // size_of::<V>() bytes each; read_unaligned needs no alignment.
            let v: V =
                unsafe { std::ptr::read_unaligned(bytes[c * self.stride..].as_ptr().cast()) };
            f(&v);
        }
    }

    /// Slots `first..end` of a per-CPU array, each with its per-CPU values
    /// passed to `f`. Returns false when a batch failed (see `refuse`),
    /// possibly after some slots were passed on: the caller reads the
    /// whole run itself, from scratch.
    pub fn array_run<V: Pod>(
        &self,
        map: &MapData,
        first: u32,
        end: u32,
        mut f: impl FnMut(u32, &mut dyn FnMut(&mut dyn FnMut(&V))),
    ) -> bool {
        if !self.works.get() {
            return false;
        }
        let mut at = first;
        while at < end {
            let count = self.per_batch().min(end - at);
            // An array batch starts after the key in in_batch (the slot
            // before), from slot 0 without one.
            let from = (at > 0).then(|| (at - 1).to_ne_bytes());
            let mut slot = at;
            let (got, _, err) = self.batch(map, from, count, |_, bytes| {
                f(slot, &mut |g| self.each_cpu(bytes, g));
                slot += 1;
            });
            match err {
                // ENOENT: the end of the map, which must be this run's.
                Some(e) if e.raw_os_error() != Some(libc::ENOENT) || got != count => {
                    self.refuse(e);
                    return false;
                }
                _ if got != count => {
                    self.refuse(io::Error::other("short batch"));
                    return false;
                }
                _ => at += count,
            }
        }
        // Counted once the whole run is in: a refused one is read again.
        self.count_elements((end - first) as usize);
        true
    }

    /// Every entry of a per-CPU hash, its key and per-CPU values passed to
    /// `f`. Returns false when a batch failed (see `refuse`), possibly
    /// after some entries were passed on: the caller drops what it got and
    /// reads the map itself.
    pub fn hash<K: Pod, V: Pod>(
        &self,
        map: &MapData,
        mut f: impl FnMut(K, &mut dyn FnMut(&mut dyn FnMut(&V))),
    ) -> bool {
        // A hash batch's position is an opaque bucket index the kernel
        // hands back (4 bytes); none to start from the first bucket.
        let mut from = None;
        let mut count = self.per_batch();
        let mut entries = 0;
        if !self.works.get() {
            return false;
        }
        loop {
            let (_, next, err) = self.batch(map, from, count, |key, bytes| {
                // SAFETY: K is Pod and `key` holds its key_size bytes.
                let k: K = unsafe { std::ptr::read_unaligned(key.as_ptr().cast()) };
                f(k, &mut |g| self.each_cpu(bytes, g));
                entries += 1;
            });
            let Some(e) = err else {
                from = Some(next);
                continue;
            };
            match e.raw_os_error() {
                // The whole map was read.
                Some(libc::ENOENT) => {
                    self.count_elements(entries);
                    return true;
                }
                // One bucket holds more than `count` (nothing copied): ask
                // for more.
                Some(libc::ENOSPC) if count < 1 << 16 => count *= 2,
                _ => {
                    self.refuse(e);
                    return false;
                }
            }
        }
    }
}
