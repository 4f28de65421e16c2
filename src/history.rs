//! The stack's history: one entry per command that changes anything (apply, destroy, db restore,
//! state rebuild/import/unlock/migrate), written beside the state when the command has its lock
//! and completed when it ends, in the state backend (`<state>.history/`; in S3, objects under the
//! state key's prefix, which bucket versioning keeps). An entry never completed (the process was
//! killed) reads as interrupted. Commands that change nothing (plan, drift, check, validate,
//! output, history) add none. No secret value is ever in an entry: only names, digests, counts and
//! the error's first sentence, redacted.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use empi_engine::plan::{Action, Plan};
use empi_engine::state::StateStore;
use serde::{Deserialize, Serialize};

/// Where entries are kept beside the state (`StateStore::records`).
pub const RECORDS: &str = "history";

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still running, or killed before it could say (see [`Entry::shown`]).
    Running,
    Succeeded,
    Failed,
    /// Stopped by a signal, or killed.
    Interrupted,
}

/// The changes a command's plan made, by action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
}

/// A plan's monthly cost before and after, as its entry keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyCost {
    pub currency: String,
    pub before: f64,
    pub after: f64,
}

/// One command's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub command: String,
    /// The IAM principal it ran as (`sts:GetCallerIdentity`).
    pub caller: String,
    pub started: String,
    pub ended: Option<String>,
    pub outcome: Outcome,
    pub exit_status: Option<u8>,
    /// The sha256 of the plan it ran (a saved plan's seal, as `show --json` reports it).
    pub plan_sha256: Option<String>,
    pub stack_file: String,
    pub stack_sha256: String,
    /// The git commit of the stack file when it is in a repository, `+dirty` when it differs
    /// from that commit.
    pub stack_commit: Option<String>,
    pub targets: Vec<String>,
    pub summary: Option<Summary>,
    /// What the stack cost a month before and after its plan, at AWS list prices (docs/COST.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_cost: Option<MonthlyCost>,
    /// The first sentence of the error it ended with.
    pub error: Option<String>,
}

impl Entry {
    /// The entry as a reader should see it: one still `running` whose command holds no lock any
    /// more was killed.
    pub fn shown(mut self, running_lock: Option<&str>) -> Entry {
        if self.outcome == Outcome::Running && running_lock != Some(self.id.as_str()) {
            self.outcome = Outcome::Interrupted;
        }
        self
    }
}

/// The entry of the command running in this process, and where it is kept.
static ACTIVE: Mutex<Option<(Arc<dyn StateStore>, Entry)>> = Mutex::new(None);

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The record's name: sorted by start time.
fn record_name(e: &Entry) -> String {
    format!("{}-{}.json", e.started.replace([':', '-'], ""), e.id)
}

async fn write(store: &Arc<dyn StateStore>, e: &Entry) {
    let body = serde_json::to_vec_pretty(e).expect("an entry serialises");
    if let Err(err) = store.put_record(RECORDS, &record_name(e), &body).await {
        eprintln!("warning: the history entry of `{}` could not be written: {err}", e.command);
    }
}

/// The git commit of `file` (`+dirty` when it differs from it), if it is in a repository.
fn git_commit(file: &Path) -> Option<String> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .arg(file.file_name()?)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["log", "-1", "--format=%H", "--"]).filter(|c| !c.is_empty())?;
    let dirty = git(&["status", "--porcelain", "--"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{commit}+dirty") } else { commit })
}

/// Starts the entry of `command`, run by `caller` under the state lock `lock_id` (the entry's id,
/// so that a reader can tell it from one killed).
pub async fn start(
    store: Arc<dyn StateStore>,
    stack: &empi_engine::stack::Stack,
    command: &str,
    caller: &str,
    lock_id: &str,
) {
    let e = Entry {
        id: lock_id.to_string(),
        command: command.to_string(),
        caller: caller.to_string(),
        started: now(),
        ended: None,
        outcome: Outcome::Running,
        exit_status: None,
        plan_sha256: None,
        stack_file: stack.path.display().to_string(),
        stack_sha256: stack.digest.clone(),
        stack_commit: git_commit(&stack.path),
        targets: Vec::new(),
        summary: None,
        monthly_cost: None,
        error: None,
    };
    write(&store, &e).await;
    *ACTIVE.lock().unwrap() = Some((store, e));
}

/// The IAM principal the stack's AWS credentials act as, for a command that does not connect
/// otherwise; `unknown (…)` when they cannot say.
pub async fn caller(stack: &empi_engine::stack::Stack) -> String {
    let clients = crate::aws::Clients::new(&crate::aws::Target::from_stack(stack)).await;
    match clients.caller().await {
        Ok((_, arn)) => arn,
        Err(e) => format!("unknown ({e})"),
    }
}

/// The plan the running command executes: its digest, targets and counts.
pub fn note_plan(plan: &Plan) {
    if let Some((_, e)) = ACTIVE.lock().unwrap().as_mut() {
        e.plan_sha256 = Some(plan.digest.clone().unwrap_or_else(|| plan.content_digest()));
        e.targets = plan.targets.clone();
        e.summary = Some(Summary {
            add: plan.count(Action::Create),
            change: plan.count(Action::Update),
            replace: plan.count(Action::Replace),
            destroy: plan.count(Action::Delete),
        });
        // a targeted plan prices only its targets: not the stack's cost
        e.monthly_cost = plan.cost.as_ref().filter(|c| !c.targeted).map(|c| MonthlyCost {
            currency: c.currency.clone(),
            before: c.monthly_before,
            after: c.monthly_after,
        });
    }
}

/// Why the running command is failing (its first error), for its entry.
pub fn note_error(message: &str) {
    if let Some((_, e)) = ACTIVE.lock().unwrap().as_mut() {
        e.error.get_or_insert_with(|| first_sentence(&empi_engine::redact::message(message)));
    }
}

/// The number behind an exit code.
fn status_of(code: ExitCode) -> u8 {
    (0..=255u8).find(|n| ExitCode::from(*n) == code).unwrap_or(1)
}

/// Completes the running command's entry, if it started one, with how it ended.
pub async fn finish(result: &anyhow::Result<ExitCode>) {
    let Some((store, mut e)) = ACTIVE.lock().unwrap().take() else { return };
    e.ended = Some(now());
    match result {
        Ok(code) => {
            let status = status_of(*code);
            e.exit_status = Some(status);
            e.outcome = match status {
                0 => Outcome::Succeeded,
                130 | 143 => Outcome::Interrupted,
                _ => Outcome::Failed,
            };
            if status != 0 && e.error.is_none() {
                e.error = Some(
                    match status {
                        130 | 143 => "stopped by a signal",
                        2 => "a check failed",
                        _ => "see the command's output",
                    }
                    .to_string(),
                );
            }
        }
        Err(err) => {
            let stopped = err.downcast_ref::<crate::signals::Stopped>().is_some();
            e.exit_status = Some(if stopped { 130 } else { 1 });
            e.outcome = if stopped { Outcome::Interrupted } else { Outcome::Failed };
            e.error = Some(first_sentence(&empi_engine::redact::message(&err.to_string())));
        }
    }
    write(&store, &e).await;
}

/// The first sentence of an error message.
fn first_sentence(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or_default();
    match line.find("; ").or_else(|| line.find(". ")) {
        Some(i) => line[..i].to_string(),
        None => line.trim_end_matches('.').to_string(),
    }
}

/// The entries kept for a stack, oldest first; unreadable ones are skipped with a warning.
pub async fn entries(store: &dyn StateStore) -> anyhow::Result<Vec<Entry>> {
    let running = store.lock_holder().await?.filter(|h| !h.holder_gone()).map(|h| h.id);
    let mut out = Vec::new();
    for (name, body) in store.records(RECORDS).await? {
        match serde_json::from_slice::<Entry>(&body) {
            Ok(e) => out.push(e.shown(running.as_deref())),
            Err(err) => {
                eprintln!("warning: the history entry {name} is unreadable ({err}); skipped")
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_left_running_without_its_lock_reads_as_interrupted() {
        let e = Entry {
            id: "L1".into(),
            command: "apply".into(),
            caller: "arn:aws:iam::1:user/a".into(),
            started: "2026-12-06T10:00:00Z".into(),
            ended: None,
            outcome: Outcome::Running,
            exit_status: None,
            plan_sha256: None,
            stack_file: "s.toml".into(),
            stack_sha256: "x".into(),
            stack_commit: None,
            targets: vec![],
            summary: None,
            monthly_cost: None,
            error: None,
        };
        assert_eq!(e.clone().shown(Some("L1")).outcome, Outcome::Running);
        assert_eq!(e.clone().shown(Some("L2")).outcome, Outcome::Interrupted);
        assert_eq!(e.shown(None).outcome, Outcome::Interrupted);
    }

    #[test]
    fn exit_codes_are_read_back_as_their_numbers() {
        assert_eq!(status_of(ExitCode::SUCCESS), 0);
        assert_eq!(status_of(ExitCode::from(2)), 2);
        assert_eq!(status_of(ExitCode::from(130)), 130);
    }

    #[test]
    fn the_first_sentence_of_an_error_is_kept() {
        assert_eq!(
            first_sentence("the Job migrate failed: BackoffLimitExceeded; see its pods. Fix it"),
            "the Job migrate failed: BackoffLimitExceeded"
        );
        assert_eq!(first_sentence("no state."), "no state");
    }
}
