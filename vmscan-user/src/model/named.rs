//! Per-list figures keyed by list name in JSON. The model keeps them as
//! arrays indexed in `lru::NAMES` order; what it shows names each one.

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// One figure per LRU list, by the kernel's list names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct PerList<T> {
    pub inactive_anon: T,
    pub active_anon: T,
    pub inactive_file: T,
    pub active_file: T,
    pub unevictable: T,
}

impl<T: Copy> PerList<T> {
    /// From an array in `lru::NAMES` order.
    pub fn from_array(a: &[T; 5]) -> Self {
        Self {
            inactive_anon: a[0],
            active_anon: a[1],
            inactive_file: a[2],
            active_file: a[3],
            unevictable: a[4],
        }
    }
}

/// serde `serialize_with` for `[T; 5]` in `lru::NAMES` order.
pub fn per_list<T: Copy + Serialize, S: Serializer>(a: &[T; 5], s: S) -> Result<S::Ok, S::Error> {
    PerList::from_array(a).serialize(s)
}

/// Pages scanned from the anon and the file lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AnonFile {
    pub anon: u64,
    pub file: u64,
}

/// serde `serialize_with` for `(anon, file)` pairs.
pub fn anon_file<S: Serializer>(v: &[(u64, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|&(anon, file)| AnonFile { anon, file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_follow_the_kernel_order() {
        let v = serde_json::to_value(PerList::from_array(&[1, 2, 3, 4, 5])).unwrap();
        for (i, name) in vmscan_common::lru::NAMES.iter().enumerate() {
            assert_eq!(v[name], i as u64 + 1, "{name}");
        }
    }
}
