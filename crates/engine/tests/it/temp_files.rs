//! Issue #17, "a full disk leaves `*.tmp-PID` files": a state write that fails after its temp file
//! was made (here: a directory where the backup or the state file goes) removes the temp files and
//! leaves the state as it was.

use std::path::Path;

use empi_engine::state::{LocalBackend, State};

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn a_failed_state_write_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path(), "s");
    let mut state = State::new("s");
    b.save(&state).unwrap();
    // the backup cannot replace a non-empty directory: the write fails after the temp file is written
    std::fs::create_dir(b.backup_path()).unwrap();
    std::fs::write(b.backup_path().join("x"), "x").unwrap();
    state.serial = 7;
    let e = b.save(&state).unwrap_err();
    assert!(e.to_string().starts_with("cannot back up"), "{e}");
    assert_eq!(names(dir.path()), ["s.json", "s.json.backup"], "temp files left behind");
    assert_eq!(b.load().unwrap().serial, 0, "the state is as it was");
}

#[test]
fn a_state_write_that_cannot_replace_the_file_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("state").as_path(), "s");
    // a non-empty directory where the state file goes
    std::fs::create_dir_all(dir.path().join("state/s.json/x")).unwrap();
    assert!(b.save(&State::new("s")).is_err());
    assert_eq!(names(&dir.path().join("state")), ["s.json"], "temp files left behind");
}
