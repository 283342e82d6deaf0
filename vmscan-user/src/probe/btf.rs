//! A small reader for the kernel's BTF (/sys/kernel/btf/vmlinux): struct
//! member offsets (through anonymous unions and structs), enum values and
//! type sizes. That is all vmscan needs to read kernel memory without CO-RE.
//!
//! Format: Documentation/bpf/btf.rst (header, type section, string section).

const BTF_MAGIC: u16 = 0xeb9f;
/// Types one member lookup may look at (vmlinux's struct folio takes a
/// few dozen).
const MAX_VISITS: u32 = 4096;

const KIND_INT: u32 = 1;
pub(crate) const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
pub(crate) const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Clone, Debug)]
struct Member {
    name: u32,
    type_id: u32,
    /// Offset in bits from the start of the enclosing struct.
    bit_offset: u32,
}

/// An argument of a tracepoint (its TP_PROTO, without the leading
/// `void *__data` of the raw tracepoint's typedef).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpArg {
    pub name: String,
    /// Size in bytes (8 for a pointer).
    pub size: u32,
    /// The struct a pointer argument points to (`reclaim_stat`).
    pub pointee: Option<String>,
}

#[derive(Clone, Copy, Debug)]
struct Type {
    name: u32,
    kind: u32,
    /// size for INT/STRUCT/UNION/ENUM/FLOAT, referenced type for PTR/TYPEDEF/...
    size_or_type: u32,
    /// STRUCT/UNION/FUNC_PROTO: its members (parameters) in `Btf::members`;
    /// ENUM/ENUM64: its values in `Btf::enum_values`; ARRAY: (element type,
    /// number of elements).
    first: u32,
    len: u32,
}

/// Parsed BTF. Type ids start at 1 (0 is void). Members, parameters and
/// enumerators of all types live in two flat arrays and names are offsets
/// into the string section: vmlinux's BTF (150,000 types) parses into a
/// few MiB, which sets vmscan's start-up peak.
pub struct Btf {
    types: Vec<Type>,
    members: Vec<Member>,
    enum_values: Vec<(u32, i64)>,
    strings: Vec<u8>,
    /// Ids of the named types, sorted by name.
    by_name: Vec<u32>,
}

fn rd_u32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("BTF truncated at byte {at}"))
}

/// The type and string sections, checked against the header.
fn sections(data: &[u8]) -> Result<(&[u8], &[u8]), String> {
    if data.len() < 24 {
        return Err("too short for a BTF header".into());
    }
    let magic = u16::from_le_bytes([data[0], data[1]]);
    if magic != BTF_MAGIC {
        return Err(format!(
            "bad magic {magic:#x} (expected {BTF_MAGIC:#x}; big-endian BTF is not supported)"
        ));
    }
    let hdr_len = rd_u32(data, 4)? as usize;
    let type_off = rd_u32(data, 8)? as usize;
    let type_len = rd_u32(data, 12)? as usize;
    let str_off = rd_u32(data, 16)? as usize;
    let str_len = rd_u32(data, 20)? as usize;
    let tstart = hdr_len
        .checked_add(type_off)
        .ok_or("type offset overflows")?;
    let tend = tstart
        .checked_add(type_len)
        .ok_or("type length overflows")?;
    let sstart = hdr_len
        .checked_add(str_off)
        .ok_or("string offset overflows")?;
    let send = sstart
        .checked_add(str_len)
        .ok_or("string length overflows")?;
    let tsec = data.get(tstart..tend).ok_or("type section out of bounds")?;
    let strings = data
        .get(sstart..send)
        .ok_or("string section out of bounds")?;
    Ok((tsec, strings))
}

/// The type section parsed: every type after the void type 0, with the
/// flat member and enumerator arrays they index.
struct Parsed {
    types: Vec<Type>,
    members: Vec<Member>,
    enum_values: Vec<(u32, i64)>,
}

fn parse_types(tsec: &[u8]) -> Result<Parsed, String> {
    let mut p = Parsed {
        types: vec![Type {
            name: 0,
            kind: 0,
            size_or_type: 0,
            first: 0,
            len: 0,
        }],
        members: vec![],
        enum_values: vec![],
    };
    let mut at = 0usize;
    while at < tsec.len() {
        let id = p.types.len();
        let t = parse_type(tsec, &mut at, id, &mut p)?;
        p.types.push(t);
    }
    if at != tsec.len() {
        return Err("type section ends inside a type".into());
    }
    Ok(p)
}

/// The type at `at` (type id `id`), moving `at` past it and its trailing
/// data, which goes to `p`'s member and enumerator arrays.
fn parse_type(tsec: &[u8], at: &mut usize, id: usize, p: &mut Parsed) -> Result<Type, String> {
    let name = rd_u32(tsec, *at)?;
    let info = rd_u32(tsec, *at + 4)?;
    let size_or_type = rd_u32(tsec, *at + 8)?;
    *at += 12;
    let vlen = (info & 0xffff) as usize;
    let kind = (info >> 24) & 0x1f;
    let kind_flag = info >> 31 == 1;
    let mut t = Type {
        name,
        kind,
        size_or_type,
        first: 0,
        len: 0,
    };
    let idx = |n: usize| u32::try_from(n).map_err(|_| "BTF too large".to_owned());
    match kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => *at += 4,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => {}
        KIND_ARRAY => {
            (t.first, t.len) = (rd_u32(tsec, *at)?, rd_u32(tsec, *at + 8)?);
            *at += 12;
        }
        KIND_STRUCT | KIND_UNION => {
            t.first = idx(p.members.len())?;
            parse_members(tsec, at, vlen, kind_flag, &mut p.members)?;
            t.len = vlen as u32;
        }
        KIND_ENUM | KIND_ENUM64 => {
            t.first = idx(p.enum_values.len())?;
            parse_enum_values(tsec, at, vlen, kind == KIND_ENUM64, &mut p.enum_values)?;
            t.len = vlen as u32;
        }
        // Parameters (name, type) kept as members at offset 0.
        KIND_FUNC_PROTO => {
            t.first = idx(p.members.len())?;
            for _ in 0..vlen {
                p.members.push(Member {
                    name: rd_u32(tsec, *at)?,
                    type_id: rd_u32(tsec, *at + 4)?,
                    bit_offset: 0,
                });
                *at += 8;
            }
            t.len = vlen as u32;
        }
        KIND_DATASEC => *at += 12 * vlen,
        other => return Err(format!("unknown BTF kind {other} at type {id}")),
    }
    Ok(t)
}

/// `vlen` struct or union members (btf_member, 12 bytes each).
fn parse_members(
    tsec: &[u8],
    at: &mut usize,
    vlen: usize,
    kind_flag: bool,
    out: &mut Vec<Member>,
) -> Result<(), String> {
    for _ in 0..vlen {
        let off = rd_u32(tsec, *at + 8)?;
        out.push(Member {
            name: rd_u32(tsec, *at)?,
            type_id: rd_u32(tsec, *at + 4)?,
            // With kind_flag the top 8 bits are the bitfield size.
            bit_offset: if kind_flag { off & 0x00ff_ffff } else { off },
        });
        *at += 12;
    }
    Ok(())
}

/// `vlen` enumerators: btf_enum (8 bytes, signed 32-bit value) or
/// btf_enum64 (12 bytes, value in two 32-bit halves).
fn parse_enum_values(
    tsec: &[u8],
    at: &mut usize,
    vlen: usize,
    wide: bool,
    out: &mut Vec<(u32, i64)>,
) -> Result<(), String> {
    for _ in 0..vlen {
        if wide {
            let lo = rd_u32(tsec, *at + 4)? as u64;
            let hi = rd_u32(tsec, *at + 8)? as u64;
            out.push((rd_u32(tsec, *at)?, (hi << 32 | lo) as i64));
            *at += 12;
        } else {
            let v = rd_u32(tsec, *at + 4)? as i32 as i64;
            out.push((rd_u32(tsec, *at)?, v));
            *at += 8;
        }
    }
    Ok(())
}

impl Btf {
    /// Reads and parses /sys/kernel/btf/vmlinux (or another raw BTF file).
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&data).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses raw little-endian BTF.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let (tsec, strings) = sections(data)?;
        let Parsed {
            types,
            members,
            enum_values,
        } = parse_types(tsec)?;
        let mut btf = Self {
            types,
            members,
            enum_values,
            strings: strings.to_vec(),
            by_name: vec![],
        };
        let mut by_name: Vec<u32> = (1..btf.types.len() as u32)
            .filter(|&id| btf.types[id as usize].name != 0)
            .collect();
        by_name.sort_unstable_by(|&a, &b| btf.name_of(a).cmp(btf.name_of(b)));
        btf.by_name = by_name;
        Ok(btf)
    }

    fn name_of(&self, id: u32) -> &str {
        self.ty(id).map_or("", |t| self.str_at(t.name))
    }

    /// The ids of the types called `name`.
    fn named(&self, name: &str) -> &[u32] {
        let lo = self.by_name.partition_point(|&id| self.name_of(id) < name);
        let hi = lo + self.by_name[lo..].partition_point(|&id| self.name_of(id) == name);
        &self.by_name[lo..hi]
    }

    /// A struct's or union's members, a function prototype's parameters.
    fn members_of(&self, t: &Type) -> &[Member] {
        if matches!(t.kind, KIND_STRUCT | KIND_UNION | KIND_FUNC_PROTO) {
            self.members
                .get(t.first as usize..(t.first as usize + t.len as usize))
                .unwrap_or_default()
        } else {
            &[]
        }
    }

    fn enum_values_of(&self, t: &Type) -> &[(u32, i64)] {
        if matches!(t.kind, KIND_ENUM | KIND_ENUM64) {
            self.enum_values
                .get(t.first as usize..(t.first as usize + t.len as usize))
                .unwrap_or_default()
        } else {
            &[]
        }
    }

    fn str_at(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or("")
    }

    fn ty(&self, id: u32) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Follows typedef / const / volatile / restrict / type_tag.
    fn strip(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.ty(id) {
                Some(t)
                    if matches!(
                        t.kind,
                        KIND_TYPEDEF | KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = t.size_or_type
                }
                _ => break,
            }
        }
        id
    }

    /// The struct (or union) called `name` with members (not a forward
    /// declaration).
    fn composite(&self, name: &str) -> Option<u32> {
        self.named(name).iter().copied().find(|&id| {
            self.ty(id)
                .is_some_and(|t| matches!(t.kind, KIND_STRUCT | KIND_UNION) && t.len > 0)
        })
    }

    /// Size in bytes of struct `name`.
    pub fn struct_size(&self, name: &str) -> Option<u32> {
        self.composite(name)
            .and_then(|id| self.ty(id))
            .map(|t| t.size_or_type)
    }

    /// Byte offset of `member` in struct `strukt`, looking through anonymous
    /// structs and unions (struct folio keeps its fields inside them).
    pub fn member_offset(&self, strukt: &str, member: &str) -> Option<u32> {
        self.member_bit_offset(strukt, member).map(|bits| bits / 8)
    }

    /// Bit offset of `member` (a bitfield, say) in struct `strukt`.
    pub fn member_bit_offset(&self, strukt: &str, member: &str) -> Option<u32> {
        let id = self.composite(strukt)?;
        let mut visits = MAX_VISITS;
        self.find_member(id, member, 0, &mut visits)
            .map(|(bits, _)| bits)
    }

    /// Byte offset of a member path in `strukt` ("lrugen.min_seq": a member
    /// of a member), following each member's type.
    pub fn path_offset(&self, strukt: &str, path: &str) -> Option<u32> {
        let mut id = self.composite(strukt)?;
        let mut bits = 0u32;
        let mut visits = MAX_VISITS;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let (b, ty) = self.find_member(id, part, 0, &mut visits)?;
            bits = bits.checked_add(b)?;
            if parts.peek().is_some() {
                id = self.strip(ty);
            }
        }
        Some(bits / 8)
    }

    /// Byte offset and size in bytes of `member` in `strukt`.
    pub fn member(&self, strukt: &str, member: &str) -> Option<(u32, u32)> {
        let id = self.composite(strukt)?;
        let mut visits = MAX_VISITS;
        let (bits, ty) = self.find_member(id, member, 0, &mut visits)?;
        Some((bits / 8, self.size_of(ty)?))
    }

    /// Searches `id` and, depth first, its anonymous members. Damaged BTF
    /// can nest a struct in itself many times over: `visits` bounds the
    /// types looked at, `depth` the nesting, and offsets that overflow are
    /// not found.
    fn find_member(
        &self,
        id: u32,
        member: &str,
        depth: u32,
        visits: &mut u32,
    ) -> Option<(u32, u32)> {
        if depth > 8 || *visits == 0 {
            return None;
        }
        *visits -= 1;
        let t = self.ty(id)?;
        for m in self.members_of(t) {
            if self.str_at(m.name) == member {
                return Some((m.bit_offset, m.type_id));
            }
        }
        for m in self.members_of(t) {
            if m.name == 0 {
                let inner = self.strip(m.type_id);
                if let Some((bits, ty)) = self.find_member(inner, member, depth + 1, visits) {
                    return m.bit_offset.checked_add(bits).map(|b| (b, ty));
                }
            }
        }
        None
    }

    /// Size in bytes of a type.
    pub fn size_of(&self, id: u32) -> Option<u32> {
        self.size_at_depth(id, 0)
    }

    /// Arrays of arrays nest at most 32 deep (an array of itself is no
    /// size).
    fn size_at_depth(&self, id: u32, depth: u32) -> Option<u32> {
        let id = self.strip(id);
        let t = self.ty(id)?;
        match t.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => {
                Some(t.size_or_type)
            }
            KIND_PTR => Some(8),
            KIND_ARRAY if depth < 32 => self.size_at_depth(t.first, depth + 1)?.checked_mul(t.len),
            _ => None,
        }
    }

    /// Value of enumerator `name` (in any enum), e.g. "PG_active".
    pub fn enum_value(&self, name: &str) -> Option<i64> {
        self.types
            .iter()
            .filter(|t| matches!(t.kind, KIND_ENUM | KIND_ENUM64))
            .flat_map(|t| self.enum_values_of(t).iter())
            .find(|(n, _)| self.str_at(*n) == name)
            .map(|&(_, v)| v)
    }

    /// Whether `enum <enum_name>` has the enumerator `item`.
    pub fn enum_has(&self, enum_name: &str, item: &str) -> bool {
        self.types
            .iter()
            .filter(|t| {
                matches!(t.kind, KIND_ENUM | KIND_ENUM64) && self.str_at(t.name) == enum_name
            })
            .any(|t| {
                self.enum_values_of(t)
                    .iter()
                    .any(|(n, _)| self.str_at(*n) == item)
            })
    }

    /// The parameter names of function `name` (a FUNC), in order.
    pub fn func_params(&self, name: &str) -> Option<Vec<String>> {
        self.named(name).iter().find_map(|&id| {
            let f = self.ty(id).filter(|t| t.kind == KIND_FUNC)?;
            let proto = self
                .ty(f.size_or_type)
                .filter(|t| t.kind == KIND_FUNC_PROTO)?;
            Some(
                self.members_of(proto)
                    .iter()
                    .map(|m| self.str_at(m.name).to_owned())
                    .collect(),
            )
        })
    }

    /// Whether function `name` returns bool (C's _Bool), through typedefs;
    /// None where there is no such function.
    pub fn func_returns_bool(&self, name: &str) -> Option<bool> {
        self.named(name).iter().find_map(|&id| {
            let f = self.ty(id).filter(|t| t.kind == KIND_FUNC)?;
            let proto = self
                .ty(f.size_or_type)
                .filter(|t| t.kind == KIND_FUNC_PROTO)?;
            let ret = self.strip(proto.size_or_type);
            Some(self.ty(ret).is_some_and(|t| t.kind == KIND_INT) && self.name_of(ret) == "_Bool")
        })
    }

    /// True when a function called `name` exists (a candidate for fentry).
    pub fn has_func(&self, name: &str) -> bool {
        self.named(name)
            .iter()
            .any(|&id| self.ty(id).is_some_and(|t| t.kind == KIND_FUNC))
    }

    /// The arguments of tracepoint `event` as tp_btf and raw_tp programs get
    /// them. Their types come from the `btf_trace_<event>` typedef, which
    /// has no parameter names; the names come from the event class's
    /// `__bpf_trace_<class>` function (`event` itself or one of `classes`),
    /// taken only where its parameter types are the typedef's.
    pub fn tracepoint_args(&self, event: &str, classes: &[&str]) -> Result<Vec<TpArg>, String> {
        let typedef = format!("btf_trace_{event}");
        let proto = self
            .named(&typedef)
            .iter()
            .copied()
            .find(|&id| self.ty(id).is_some_and(|t| t.kind == KIND_TYPEDEF))
            .and_then(|id| self.ty(self.strip(id)))
            .filter(|t| t.kind == KIND_PTR)
            .and_then(|t| self.ty(self.strip(t.size_or_type)))
            .filter(|t| t.kind == KIND_FUNC_PROTO)
            .ok_or_else(|| format!("{typedef} not in kernel BTF"))?;
        let types: Vec<u32> = self
            .members_of(proto)
            .iter()
            .map(|m| self.strip(m.type_id))
            .collect();
        for class in std::iter::once(event).chain(classes.iter().copied()) {
            let func = format!("__bpf_trace_{class}");
            for &id in self.named(&func) {
                let Some(f) = self.ty(id).filter(|t| t.kind == KIND_FUNC) else {
                    continue;
                };
                let Some(fp) = self
                    .ty(f.size_or_type)
                    .filter(|t| t.kind == KIND_FUNC_PROTO)
                else {
                    continue;
                };
                let params = self.members_of(fp);
                if params.len() != types.len()
                    || params
                        .iter()
                        .zip(&types)
                        .any(|(m, &t)| self.strip(m.type_id) != t)
                {
                    continue;
                }
                return params.iter().skip(1).map(|m| self.tp_arg(m)).collect();
            }
        }
        Err(format!(
            "no __bpf_trace_ function in kernel BTF names the arguments of {event}"
        ))
    }

    fn tp_arg(&self, m: &Member) -> Result<TpArg, String> {
        let name = self.str_at(m.name).to_owned();
        let size = self
            .size_of(m.type_id)
            .ok_or_else(|| format!("argument {name} has no size in BTF"))?;
        let pointee = self
            .ty(self.strip(m.type_id))
            .filter(|t| t.kind == KIND_PTR)
            .and_then(|t| self.ty(self.strip(t.size_or_type)))
            .filter(|t| matches!(t.kind, KIND_STRUCT | KIND_UNION | KIND_FWD))
            .map(|t| self.str_at(t.name).to_owned())
            .filter(|n| !n.is_empty());
        Ok(TpArg {
            name,
            size,
            pointee,
        })
    }

    pub fn type_count(&self) -> usize {
        self.types.len() - 1
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds raw BTF from (name, kind, size_or_type, extra words).
    pub(crate) struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Builder {
        pub(crate) fn new() -> Self {
            Self {
                types: vec![],
                strings: vec![0],
            }
        }
        pub(crate) fn s(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            off
        }
        fn w(&mut self, v: u32) {
            self.types.extend_from_slice(&v.to_le_bytes());
        }
        pub(crate) fn int(&mut self, name: &str, size: u32) {
            let n = self.s(name);
            self.w(n);
            self.w(KIND_INT << 24);
            self.w(size);
            self.w(size * 8);
        }
        pub(crate) fn composite(
            &mut self,
            kind: u32,
            name: &str,
            size: u32,
            members: &[(&str, u32, u32)],
        ) {
            let n = self.s(name);
            self.w(n);
            self.w(kind << 24 | members.len() as u32);
            self.w(size);
            for &(m, ty, bits) in members {
                let mn = self.s(m);
                self.w(mn);
                self.w(ty);
                self.w(bits);
            }
        }
        pub(crate) fn enumeration(&mut self, name: &str, values: &[(&str, i32)]) {
            let n = self.s(name);
            self.w(n);
            self.w(KIND_ENUM << 24 | values.len() as u32);
            self.w(4);
            for &(v, val) in values {
                let vn = self.s(v);
                self.w(vn);
                self.w(val as u32);
            }
        }
        pub(crate) fn finish(self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
            out.push(1);
            out.push(0);
            out.extend_from_slice(&24u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
            out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
            out.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// A struct folio shaped like 6.18's: fields inside anonymous unions.
    fn folio_like() -> Vec<u8> {
        let mut b = Builder::new();
        b.int("unsigned long", 8); // 1
        b.int("unsigned int", 4); // 2
        // 3: anon struct { flags; mapping@24 }
        b.composite(KIND_STRUCT, "", 64, &[("flags", 1, 0), ("mapping", 1, 192)]);
        // 4: anon union { struct 3 }
        b.composite(KIND_UNION, "", 64, &[("", 3, 0)]);
        // 5: anon struct { _flags_1; _nr_pages@56 }
        b.composite(
            KIND_STRUCT,
            "",
            64,
            &[("_flags_1", 1, 0), ("_nr_pages", 2, 448)],
        );
        // 6: anon union { struct 5 }
        b.composite(KIND_UNION, "", 64, &[("", 5, 0)]);
        // 7: struct folio
        b.composite(KIND_STRUCT, "folio", 128, &[("", 4, 0), ("", 6, 512)]);
        b.enumeration(
            "pageflags",
            &[("PG_locked", 0), ("PG_referenced", 2), ("PG_active", 8)],
        );
        b.finish()
    }

    #[test]
    fn member_offsets_through_anonymous_unions() {
        let btf = Btf::parse(&folio_like()).unwrap();
        assert_eq!(btf.member_offset("folio", "flags"), Some(0));
        assert_eq!(btf.member_offset("folio", "mapping"), Some(24));
        assert_eq!(btf.member_offset("folio", "_flags_1"), Some(64));
        assert_eq!(btf.member("folio", "_nr_pages"), Some((120, 4)));
        assert_eq!(btf.member_offset("folio", "absent"), None);
        assert_eq!(btf.struct_size("folio"), Some(128));
        assert_eq!(btf.enum_value("PG_active"), Some(8));
        assert_eq!(btf.enum_value("PG_referenced"), Some(2));
        assert_eq!(btf.enum_value("PG_nope"), None);
    }

    impl Builder {
        /// A FUNC_PROTO returning void with (name, type) parameters.
        pub(crate) fn proto(&mut self, params: &[(&str, u32)]) {
            self.w(0);
            self.w(KIND_FUNC_PROTO << 24 | params.len() as u32);
            self.w(0);
            for &(n, ty) in params {
                let s = self.s(n);
                self.w(s);
                self.w(ty);
            }
        }
        /// A type that refers to another (PTR, TYPEDEF, FUNC).
        pub(crate) fn refer(&mut self, kind: u32, name: &str, to: u32) {
            let n = self.s(name);
            self.w(n);
            self.w(kind << 24);
            self.w(to);
        }
    }

    #[test]
    fn function_parameters_by_name() {
        let mut b = Builder::new();
        b.int("long", 8); // 1
        b.refer(KIND_PTR, "", 0); // 2
        b.proto(&[("lruvec", 2), ("folio", 2)]); // 3
        b.refer(KIND_FUNC, "lru_lazyfree", 3); // 4
        b.proto(&[("page", 2), ("lruvec", 2), ("arg", 2)]); // 5
        b.refer(KIND_FUNC, "lru_lazyfree_fn", 5); // 6
        b.refer(KIND_TYPEDEF, "not_a_func", 3); // 7
        let btf = Btf::parse(&b.finish()).unwrap();
        assert_eq!(
            btf.func_params("lru_lazyfree"),
            Some(vec!["lruvec".to_owned(), "folio".to_owned()])
        );
        assert_eq!(btf.func_params("lru_lazyfree_fn").map(|p| p.len()), Some(3));
        assert_eq!(btf.func_params("not_a_func"), None);
        assert_eq!(btf.func_params("absent"), None);
    }

    /// mm_vmscan_lru_shrink_inactive's raw tracepoint typedef and event
    /// function, shaped like a 6.x kernel's.
    fn tracepoint_like(names: bool) -> Vec<u8> {
        let mut b = Builder::new();
        b.int("int", 4); // 1
        b.int("unsigned long", 8); // 2
        b.refer(KIND_PTR, "", 0); // 3: void *
        b.composite(KIND_STRUCT, "reclaim_stat", 8, &[("nr_dirty", 2, 0)]); // 4
        b.refer(KIND_PTR, "", 4); // 5: struct reclaim_stat *
        let unnamed = [
            ("", 3),
            ("", 1),
            ("", 2),
            ("", 2),
            ("", 5),
            ("", 1),
            ("", 1),
        ];
        b.proto(&unnamed); // 6
        b.refer(KIND_PTR, "", 6); // 7
        b.refer(KIND_TYPEDEF, "btf_trace_mm_vmscan_lru_shrink_inactive", 7); // 8
        let named = [
            ("__data", 3),
            ("nid", 1),
            ("nr_scanned", 2),
            ("nr_reclaimed", 2),
            ("stat", 5),
            ("priority", 1),
            ("file", 1),
        ];
        // 9: a class function whose types differ (must not be taken).
        b.proto(&named[..6]);
        b.refer(
            KIND_FUNC,
            "__bpf_trace_mm_vmscan_lru_shrink_inactive_template",
            9,
        ); // 10
        if names {
            b.proto(&named); // 11
            b.refer(KIND_FUNC, "__bpf_trace_mm_vmscan_lru_shrink_inactive", 11); // 12
        }
        b.finish()
    }

    #[test]
    fn tracepoint_arguments_by_name_and_type() {
        let btf = Btf::parse(&tracepoint_like(true)).unwrap();
        let args = btf
            .tracepoint_args(
                "mm_vmscan_lru_shrink_inactive",
                &["mm_vmscan_lru_shrink_inactive_template"],
            )
            .unwrap();
        let names: Vec<_> = args.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "nid",
                "nr_scanned",
                "nr_reclaimed",
                "stat",
                "priority",
                "file"
            ]
        );
        assert_eq!(args[0].size, 4);
        assert_eq!(args[1].size, 8);
        assert_eq!(args[3].pointee.as_deref(), Some("reclaim_stat"));
        assert_eq!(args[1].pointee, None);
        assert!(
            btf.tracepoint_args("mm_vmscan_nope", &[])
                .unwrap_err()
                .contains("btf_trace_mm_vmscan_nope")
        );
        // Only a class function with other parameter types: no names.
        let btf = Btf::parse(&tracepoint_like(false)).unwrap();
        let err = btf
            .tracepoint_args(
                "mm_vmscan_lru_shrink_inactive",
                &["mm_vmscan_lru_shrink_inactive_template"],
            )
            .unwrap_err();
        assert!(err.contains("__bpf_trace_"), "{err}");
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(Btf::parse(&[]).is_err());
        assert!(Btf::parse(&[0u8; 64]).is_err());
        let mut raw = folio_like();
        raw.truncate(raw.len() - 20);
        assert!(Btf::parse(&raw).is_err());
        // Every truncation point fails cleanly or parses: never panics.
        let raw = folio_like();
        for n in 0..raw.len() {
            let _ = Btf::parse(&raw[..n]);
        }
    }

    #[test]
    fn running_kernel_btf_has_what_vmscan_reads() {
        let path = std::path::Path::new("/sys/kernel/btf/vmlinux");
        if !path.exists() {
            eprintln!(
                "skipping: no /sys/kernel/btf/vmlinux on kernel {}",
                crate::probe::system::kernel_release()
            );
            return;
        }
        let btf = Btf::from_file(path).unwrap();
        assert!(btf.type_count() > 10_000);
        // Sizes the kernel's own ABI fixes, checked against BTF.
        assert_eq!(btf.struct_size("list_head"), Some(16));
        assert_eq!(btf.member_offset("list_head", "prev"), Some(8));
        assert_eq!(btf.member("task_struct", "flags").map(|(_, s)| s), Some(4));
        assert!(btf.member_offset("pglist_data", "node_id").is_some());
        assert_eq!(btf.enum_value("LRU_INACTIVE_FILE"), Some(2));
        assert!(btf.enum_value("PG_active").is_some());
        assert!(btf.has_func("folio_mark_accessed") || btf.has_func("mark_page_accessed"));
        let args = btf.tracepoint_args("mm_vmscan_lru_isolate", &[]).unwrap();
        assert!(
            args.iter().any(|a| a.name == "nr_taken" && a.size == 8),
            "{args:?}"
        );
    }
}
