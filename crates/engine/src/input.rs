//! Reading a file a user names (the stack file, a saved plan): only a regular file, and at most a
//! limit of bytes, so that a FIFO, a device such as /dev/zero or a directory gets one clear error at
//! once instead of a hang or a read until memory runs out.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is larger than {} (a limit that stops a wrong path from filling memory)", size(*.limit))]
    TooLarge { limit: u64 },
    #[error("it is not UTF-8 text")]
    NotText,
}

/// A byte count as a reader says it: `1 MiB`, `256 MiB`, `512 bytes`.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; on a regular file
    // it changes nothing
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    let t = meta.file_type();
    if !t.is_file() {
        return Err(InputError::NotRegular(if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO (named pipe)"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a file"
        }));
    }
    if meta.len() > limit {
        return Err(InputError::TooLarge { limit });
    }
    // the file may grow after the check: read no more than the limit and one byte
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { limit });
    }
    Ok(bytes)
}

/// The UTF-8 text of the regular file at `path`, at most `limit` bytes of it.
pub fn read_regular_text(path: &Path, limit: u64) -> Result<String, InputError> {
    String::from_utf8(read_regular_file(path, limit)?).map_err(|_| InputError::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_a_device_and_a_directory_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t0 = std::time::Instant::now();
        assert_eq!(
            read_regular_file(&fifo, 10).unwrap_err().to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(
            read_regular_file(Path::new("/dev/zero"), 10).unwrap_err().to_string(),
            "it is a character device, not a regular file"
        );
        assert_eq!(
            read_regular_file(dir.path(), 10).unwrap_err().to_string(),
            "it is a directory, not a regular file"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, vec![b'x'; 2 << 20]).unwrap();
        assert_eq!(
            read_regular_file(&f, 1 << 20).unwrap_err().to_string(),
            "it is larger than 1 MiB (a limit that stops a wrong path from filling memory)"
        );
        assert_eq!(read_regular_file(&f, 2 << 20).unwrap().len(), 2 << 20);
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert_eq!(read_regular_text(&f, 10).unwrap_err().to_string(), "it is not UTF-8 text");
    }
}
