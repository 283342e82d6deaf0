//! Parser for tracefs event format files
//! (/sys/kernel/tracing/events/<system>/<event>/format).
//!
//! Rust eBPF has no CO-RE, so every tracepoint field vmscan reads is located
//! through this parser at start-up, never through a literal offset.

use std::collections::BTreeMap;

/// One `field:` line of a format file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The C declaration without the name, e.g. "unsigned long" or "struct folio *".
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
}

/// A parsed format file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Format {
    pub name: String,
    pub id: Option<u32>,
    pub fields: BTreeMap<String, Field>,
}

impl Format {
    /// Parses the text of a format file. Lines that are not `name:`, `ID:` or
    /// `field:` lines (the print fmt) are ignored; a malformed field line is
    /// an error naming the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut fmt = Self::default();
        for (lineno, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some(rest) = line.strip_prefix("name:") {
                fmt.name = rest.trim().to_owned();
            } else if let Some(rest) = line.strip_prefix("ID:") {
                fmt.id = rest.trim().parse().ok();
            } else if line.starts_with("field:") {
                let field = parse_field(line)
                    .ok_or_else(|| format!("line {}: malformed field: {raw:?}", lineno + 1))?;
                fmt.fields.insert(field.name.clone(), field);
            }
        }
        if fmt.fields.is_empty() {
            return Err("no field lines: not a tracefs format file".to_owned());
        }
        Ok(fmt)
    }

    /// Offset of `name` if it exists and has one of the accepted sizes.
    pub fn offset(&self, name: &str, sizes: &[u32]) -> Result<u32, String> {
        let f = self
            .fields
            .get(name)
            .ok_or_else(|| format!("field `{name}` missing from {}", self.name))?;
        if !sizes.contains(&f.size) {
            return Err(format!(
                "field `{name}` of {} has size {} (expected {:?})",
                self.name, f.size, sizes
            ));
        }
        Ok(f.offset)
    }
}

/// `field:unsigned long nr_scanned;\toffset:16;\tsize:8;\tsigned:0;`
fn parse_field(line: &str) -> Option<Field> {
    let mut decl = None;
    let mut offset = None;
    let mut size = None;
    let mut signed = false;
    for part in line.split(';') {
        let part = part.trim();
        if let Some(d) = part.strip_prefix("field:") {
            decl = Some(d.trim());
        } else if let Some(v) = part.strip_prefix("offset:") {
            offset = v.trim().parse().ok();
        } else if let Some(v) = part.strip_prefix("size:") {
            size = v.trim().parse().ok();
        } else if let Some(v) = part.strip_prefix("signed:") {
            signed = v.trim() == "1";
        }
    }
    let decl = decl?;
    // The name is the last identifier; arrays keep their brackets in the
    // type ("char comm[16]" -> name "comm").
    let (before_bracket, array) = match decl.find('[') {
        Some(i) => (&decl[..i], &decl[i..]),
        None => (decl, ""),
    };
    // The separator may be any character, multi-byte ones included.
    let (split, sep) = before_bracket
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))?;
    let name_at = split + sep.len_utf8();
    let name = &before_bracket[name_at..];
    if name.is_empty() {
        return None;
    }
    let c_type = format!("{}{}", before_bracket[..name_at].trim(), array);
    Some(Field {
        name: name.to_owned(),
        c_type,
        offset: offset?,
        size: size?,
        signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/format");

    fn fixture(kernel: &str, event: &str) -> Format {
        let path = format!("{FIXTURES}/{kernel}/{event}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Format::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn parses_shrink_inactive_on_every_fixture_kernel() {
        for kernel in ["6.1", "6.12", "6.18"] {
            let f = fixture(kernel, "mm_vmscan_lru_shrink_inactive");
            assert_eq!(f.name, "mm_vmscan_lru_shrink_inactive");
            assert_eq!(f.offset("nid", &[4]).unwrap(), 8, "{kernel}");
            assert_eq!(f.offset("nr_scanned", &[8]).unwrap(), 16, "{kernel}");
            assert_eq!(f.offset("nr_activate1", &[4]).unwrap(), 68, "{kernel}");
            assert_eq!(f.offset("priority", &[4]).unwrap(), 88, "{kernel}");
            assert_eq!(f.offset("reclaim_flags", &[4]).unwrap(), 92, "{kernel}");
            assert!(f.fields["nid"].signed);
            assert!(!f.fields["nr_reclaimed"].signed);
        }
    }

    #[test]
    fn lru_isolate_layout_differs_between_kernels() {
        // 6.1 still carries isolate_mode before lru; later kernels dropped it,
        // moving lru from 52 to 48: the parser must follow, not assume.
        let old = fixture("6.1", "mm_vmscan_lru_isolate");
        let new = fixture("6.18", "mm_vmscan_lru_isolate");
        assert!(old.fields.contains_key("isolate_mode"));
        assert!(!new.fields.contains_key("isolate_mode"));
        assert_eq!(old.offset("lru", &[4]).unwrap(), 52);
        assert_eq!(new.offset("lru", &[4]).unwrap(), 48);
        assert_eq!(new.offset("nr_scanned", &[8]).unwrap(), 24);
    }

    #[test]
    fn pointer_and_enum_fields_keep_their_types() {
        let f = fixture("6.18", "mm_lru_insertion");
        assert_eq!(f.fields["folio"].c_type, "struct folio *");
        assert_eq!(f.fields["lru"].c_type, "enum lru_list");
        assert_eq!(f.offset("pfn", &[8]).unwrap(), 16);
    }

    #[test]
    fn wrong_size_and_missing_field_are_errors_naming_the_field() {
        let f = fixture("6.18", "mm_vmscan_lru_shrink_inactive");
        let e = f.offset("nr_scanned", &[4]).unwrap_err();
        assert!(e.contains("nr_scanned") && e.contains("size 8"), "{e}");
        let e = f.offset("nope", &[4]).unwrap_err();
        assert!(e.contains("`nope` missing"), "{e}");
    }

    #[test]
    fn array_fields_and_garbage() {
        let text =
            "name: x\nID: 7\nformat:\n\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:1;\n";
        let f = Format::parse(text).unwrap();
        assert_eq!(f.id, Some(7));
        assert_eq!(f.fields["comm"].c_type, "char[16]");
        assert_eq!(f.fields["comm"].size, 16);
        assert!(Format::parse("hello\nworld\n").is_err());
        assert!(Format::parse("field:int;\toffset:x;").is_err());
    }
}
