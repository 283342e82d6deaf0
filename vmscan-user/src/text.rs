//! Untrusted text (task comm, cgroup paths, kernel symbols) made safe for a
//! terminal: control characters escaped, long names cut with an ellipsis.

/// Escapes control characters (\n, \t, ESC, ...) as `\xNN` / `\n` so a
/// process name cannot move the cursor or change colours.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Sanitizes and truncates to at most `max` characters, ending with '…'
/// when cut.
pub fn fit(s: &str, max: usize) -> String {
    let clean = sanitize(s);
    if clean.chars().count() <= max {
        return clean;
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = clean.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Pages as a short human figure ("1.2M", "512K", "37").
pub fn pages(v: u64) -> String {
    match v {
        0..=9_999 => v.to_string(),
        10_000..=9_999_999 => format!("{:.1}K", v as f64 / 1e3),
        _ => format!("{:.1}M", v as f64 / 1e6),
    }
}

/// Microseconds as a short duration ("512us", "2.0ms", "1.5s").
pub fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us}us"),
        1_000..=999_999 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.1}s", us as f64 / 1e6),
    }
}

pub fn rate(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.1}")
    } else if v < 10_000.0 {
        format!("{v:.0}")
    } else {
        format!("{:.1}K", v / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(sanitize("evil\x1b[2Jname\n"), "evil\\x1b[2Jname\\n");
        assert_eq!(sanitize("kworker/0:1"), "kworker/0:1");
    }

    #[test]
    fn long_names_get_an_ellipsis() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("a\x07b", 4), "a\\x…");
        assert_eq!(fit("x", 0), "");
    }

    #[test]
    fn human_figures() {
        assert_eq!(pages(37), "37");
        assert_eq!(pages(115_213), "115.2K");
        assert_eq!(pages(12_000_000), "12.0M");
        assert_eq!(rate(3.25), "3.2");
        assert_eq!(micros(512), "512us");
        assert_eq!(micros(2048), "2.0ms");
        assert_eq!(micros(1_500_000), "1.5s");
        assert_eq!(rate(123.4), "123");
    }
}
