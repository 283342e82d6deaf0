//! Writing results without panicking. `println!` panics when stdout is a
//! pipe whose reader has gone (`vmscan access --folded | head -1`); vmscan
//! writes through here instead. A reader that went away ends vmscan quietly
//! with exit 0 ([`OutputClosed`], which main recognises); any other write
//! error (a full disk, a revoked terminal) is a one-line message and exit 1.

use std::io::{self, Write};

/// The reader of standard output went away (EPIPE): nothing more can be
/// shown, and that is not a failure of vmscan's.
#[derive(Debug)]
pub struct OutputClosed;

impl std::fmt::Display for OutputClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for OutputClosed {}

/// Writes `s` to standard output and flushes it.
pub fn print(s: &str) -> anyhow::Result<()> {
    write_to(&mut io::stdout().lock(), s)
}

/// Writes `s` and a newline to standard output and flushes it.
pub fn line(s: &str) -> anyhow::Result<()> {
    let mut o = io::stdout().lock();
    write_to(&mut o, s)?;
    write_to(&mut o, "\n")
}

/// Writes `s` to `w` and flushes it, a broken pipe becoming [`OutputClosed`].
pub fn write_to(w: &mut dyn Write, s: &str) -> anyhow::Result<()> {
    w.write_all(s.as_bytes())
        .and_then(|()| w.flush())
        .map_err(classify)
}

fn classify(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        OutputClosed.into()
    } else {
        anyhow::anyhow!("writing to standard output: {e}")
    }
}

/// A diagnostic line on standard error. A closed or broken stderr is
/// ignored: diagnostics must never be why vmscan fails.
pub fn note(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `eprintln!` that never panics (see [`note`]).
#[macro_export]
macro_rules! note {
    ($($t:tt)*) => { $crate::out::note(format_args!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken(io::ErrorKind);
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_broken_pipe_is_output_closed_and_other_errors_are_failures() {
        let e = write_to(&mut Broken(io::ErrorKind::BrokenPipe), "x").unwrap_err();
        assert!(e.downcast_ref::<OutputClosed>().is_some());
        let e = write_to(&mut Broken(io::ErrorKind::StorageFull), "x").unwrap_err();
        assert!(e.downcast_ref::<OutputClosed>().is_none());
        assert!(
            e.to_string().starts_with("writing to standard output:"),
            "{e}"
        );
    }
}
