//! A temporary file that is removed on every path out of the code that made it: the atomic writers
//! (state, saved plans) write a temp file and rename it over the real one, and an error in between
//! (a full disk, a directory in the way) must not leave `*.tmp-PID` files behind.

use std::path::{Path, PathBuf};

/// Removes its file when dropped. After a successful rename the file no longer exists under this
/// name and the removal does nothing; a process killed in between leaves it (the next write of the
/// same process id replaces it).
pub struct TempPath(PathBuf);

impl TempPath {
    pub fn new(path: PathBuf) -> TempPath {
        TempPath(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
