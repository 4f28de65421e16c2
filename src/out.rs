//! Standard output that may be closed early (`empi-infra plan | head -1`, `... | true`). `println!`
//! panics when a write fails; [`outln!`] and [`out!`] return the failure instead, so a command stops
//! through `?` (its state lock released on the way out) and `main` ends quietly with status 0 when
//! the reader went away ([`OutError::Closed`]), as other Unix tools do. Any other failure to write
//! (a full disk under `> file`) is an error like any other.

use std::io::Write;

/// A write to standard output that failed.
#[derive(Debug, thiserror::Error)]
pub enum OutError {
    /// The reader closed the pipe: not an error of the command.
    #[error("standard output was closed")]
    Closed,
    #[error("cannot write to standard output: {0}")]
    Failed(std::io::Error),
}

/// Writes to standard output: what [`out!`] and [`outln!`] expand to.
pub fn write(args: std::fmt::Arguments) -> Result<(), OutError> {
    let mut o = std::io::stdout().lock();
    o.write_fmt(args).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => OutError::Closed,
        _ => OutError::Failed(e),
    })
}

/// Flushes standard output (before a prompt that has no newline).
pub fn flush() -> Result<(), OutError> {
    std::io::stdout().flush().map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => OutError::Closed,
        _ => OutError::Failed(e),
    })
}

/// Whether `e` is standard output closed by its reader.
pub fn closed(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<OutError>(), Some(OutError::Closed))
}

/// `print!` that returns `Result<(), OutError>` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `println!` that returns `Result<(), OutError>` instead of panicking.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// For the commands whose work matters more than their output (`apply`, `destroy`): a closed
/// stdout is ignored and the work goes on, to end with its own exit status; any other failure to
/// write is still an error.
pub fn keep_going(r: Result<(), OutError>) -> Result<(), OutError> {
    match r {
        Err(OutError::Closed) => Ok(()),
        r => r,
    }
}
