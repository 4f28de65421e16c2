//! Crash points for the reliability harness (docs/RELIABILITY.md): with
//! `EMPI_INFRA_CRASH_AT=<point>:<n>`, the process aborts at once — no cleanup, like `kill -9` — the
//! n-th time it reaches `<point>`. Points: `after-create-call` (the cloud has the object, state has
//! no id yet), `state-write-start`, `state-write-before-rename` (the new state is only in the temp
//! file). Without the variable a crash point costs one atomic load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

static TARGET: OnceLock<Option<(String, usize)>> = OnceLock::new();
static HITS: AtomicUsize = AtomicUsize::new(0);

fn target() -> &'static Option<(String, usize)> {
    TARGET.get_or_init(|| {
        let v = std::env::var("EMPI_INFRA_CRASH_AT").ok()?;
        let (point, n) = v.rsplit_once(':')?;
        Some((point.to_string(), n.parse().ok()?))
    })
}

/// Aborts the process here if this is the configured crash point and hit.
pub fn hit(point: &str) {
    if let Some((p, n)) = target() {
        if p == point && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            eprintln!("crash point {point} #{n}: aborting");
            std::process::abort();
        }
    }
}
