//! Per-list figures keyed by list name in JSON. The model keeps them as
//! arrays indexed in `lru::NAMES` order; what it shows names each one.

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// One figure per LRU list, by the kernel's list names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PerList<T> {
    pub inactive_anon: T,
    pub active_anon: T,
    pub inactive_file: T,
    pub active_file: T,
    pub unevictable: T,
}

impl<T: Copy> PerList<T> {
    /// In `lru::NAMES` order.
    pub fn to_array(&self) -> [T; 5] {
        [
            self.inactive_anon,
            self.active_anon,
            self.inactive_file,
            self.active_file,
            self.unevictable,
        ]
    }

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

/// Figures of a node this kernel gives vmscan no way to derive (their
/// tracepoint never fires here), with the reason: left out of the JSON,
/// never shown as zeros.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NotDerived {
    /// The JSON names of the figures left out.
    pub fields: Vec<&'static str>,
    pub reason: &'static str,
}

/// A value with figures the kernel may leave underivable.
pub trait Derives {
    /// Which figures are not derived, and why.
    fn not_derived(&self) -> &[NotDerived];

    /// The JSON names left out of the value's JSON ("a.b" for field b of
    /// the object in field a).
    fn not_derived_fields(&self) -> Vec<&'static str> {
        self.not_derived()
            .iter()
            .flat_map(|n| n.fields.iter().copied())
            .collect()
    }

    /// Whether the figure named `field` is derived here.
    fn derives(&self, field: &str) -> bool {
        self.why_not(field).is_none()
    }

    /// The reason the figure named `field` is not derived, if it is not.
    fn why_not(&self, field: &str) -> Option<&'static str> {
        self.not_derived()
            .iter()
            .find(|n| n.fields.contains(&field))
            .map(|n| n.reason)
    }
}

/// The JSON of `v` without the fields it cannot derive.
fn without_not_derived<T: Serialize + Derives, E: serde::ser::Error>(
    v: &T,
) -> Result<serde_json::Value, E> {
    let mut j = serde_json::to_value(v).map_err(E::custom)?;
    for f in v.not_derived_fields() {
        // "a.b": field b of the object in field a.
        let (parent, last) = match f.rsplit_once('.') {
            Some((p, last)) => (p.split('.').try_fold(&mut j, |o, k| o.get_mut(k)), last),
            None => (Some(&mut j), f),
        };
        if let Some(m) = parent.and_then(|p| p.as_object_mut()) {
            m.remove(last);
        }
    }
    Ok(j)
}

/// serde `serialize_with` for one value that may not derive some fields.
pub fn derived<T: Serialize + Derives, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    without_not_derived::<T, S::Error>(v)?.serialize(s)
}

/// serde `serialize_with` for a sequence of such values.
pub fn each_derived<T: Serialize + Derives, S: Serializer>(
    v: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    let items = v
        .iter()
        .map(without_not_derived::<T, S::Error>)
        .collect::<Result<Vec<_>, _>>()?;
    items.serialize(s)
}

/// Marks `fields` of an object schema optional (a schemars transform's
/// body): a kernel may leave them underivable.
pub fn optional(schema: &mut schemars::Schema, fields: &[&str]) {
    if let Some(req) = schema.get_mut("required").and_then(|r| r.as_array_mut()) {
        req.retain(|f| !f.as_str().is_some_and(|f| fields.contains(&f)));
    }
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
