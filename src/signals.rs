//! SIGINT and SIGTERM, for every command (docs/STATE.md, "Stopping a run").
//!
//! [`run`] races the command against the signals. Outside the execution phase of `apply` and
//! `destroy`, the first signal drops the command's future: every guard it holds is dropped with it,
//! so the state lock is released (local file or S3 object) and nothing else is sent; the process then
//! exits 130 (SIGINT) or 143 (SIGTERM) with one line. While `apply`/`destroy` execute ([`executing`]),
//! the first signal only asks the executor to stop (start nothing new, finish and record what is in
//! flight, then release the lock: the command returns 130 itself); a second one drops the command
//! as above. A signal that comes while a dropped command is still releasing its lock (an S3 endpoint
//! that does not answer) ends the process at once.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use tokio::signal::unix::{signal, SignalKind};

/// A signal that stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    #[error("SIGINT")]
    Interrupt,
    #[error("SIGTERM")]
    Terminate,
}

impl Stopped {
    /// 128 + the signal's number, as a shell reports a process the signal ended.
    pub fn code(self) -> u8 {
        match self {
            Stopped::Interrupt => 130,
            Stopped::Terminate => 143,
        }
    }

    fn from_code(code: u8) -> Option<Stopped> {
        match code {
            130 => Some(Stopped::Interrupt),
            143 => Some(Stopped::Terminate),
            _ => None,
        }
    }
}

/// The execution phase's stop flag while `apply`/`destroy` execute.
static EXECUTION: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);
/// Whether an execution phase began in this process (what a stop message may promise).
static EXECUTED: AtomicBool = AtomicBool::new(false);
/// The signal that cancelled the command (its exit code), 0 while none did.
static CANCELLED: AtomicU8 = AtomicU8::new(0);

/// While alive, the first signal sets `stop` (the executor starts nothing new) instead of dropping
/// the command.
pub struct Executing(());

pub fn executing(stop: Arc<AtomicBool>) -> Executing {
    EXECUTED.store(true, Ordering::SeqCst);
    *EXECUTION.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop);
    Executing(())
}

impl Drop for Executing {
    fn drop(&mut self) {
        EXECUTION.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The signal that cancelled the command, if one did: for code that blocks the command's thread (a
/// prompt) and so cannot be dropped, to return [`Stopped`] as its error.
pub fn cancelled() -> Option<Stopped> {
    Stopped::from_code(CANCELLED.load(Ordering::SeqCst))
}

/// Runs `command` until it ends or a signal stops it (see the module's documentation).
pub async fn run(command: impl std::future::Future<Output = Result<ExitCode>>) -> Result<ExitCode> {
    // registered before the command takes any lock: from here on a signal cannot end the process
    // without its guards being dropped
    let (Ok(mut int), Ok(mut term)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return command.await;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        loop {
            let s = tokio::select! {
                _ = int.recv() => Stopped::Interrupt,
                _ = term.recv() => Stopped::Terminate,
            };
            if cancelled().is_some() {
                // the command is being dropped and its lock release does not end
                eprintln!(
                    "\nStopped at once by {s}; state is valid, but its lock may be left behind (the next run takes over a local one, and names the `empi-infra state unlock` command for one in S3)."
                );
                std::process::exit(s.code().into());
            }
            let execution = EXECUTION.lock().unwrap_or_else(|e| e.into_inner()).clone();
            // the first signal of an execution phase: the executor stops by itself
            if execution.is_some_and(|stop| !stop.swap(true, Ordering::SeqCst)) {
                eprintln!("\nStopping: no new operations start; what is in flight is recorded. Press Ctrl-C again to stop at once.");
                continue;
            }
            CANCELLED.store(s.code(), Ordering::SeqCst);
            let _ = tx.send(s);
        }
    });
    let result = {
        tokio::pin!(command);
        tokio::select! {
            r = &mut command => r,
            Some(s) = rx.recv() => Err(s.into()),
        }
        // the command's future is dropped here, and with it every lock guard it holds
    };
    watcher.abort();
    // a command that failed because of the signal (a prompt that saw it returns it as its error)
    if let (Err(_), Some(s)) = (&result, cancelled()) {
        return Err(s.into());
    }
    result
}

/// The one line a stopped command prints, and its exit code.
pub fn exit(s: Stopped) -> ExitCode {
    if EXECUTED.load(Ordering::SeqCst) {
        eprintln!("\nStopped at once by {s}. State records everything that was started and its lock is released; run the command again to continue.");
    } else {
        eprintln!("\nStopped by {s}; no state lock is left behind.");
    }
    ExitCode::from(s.code())
}
