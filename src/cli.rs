//! The command line's arguments (clap): every command and its flags.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "empi-infra",
    version,
    about = "Deploys Tuva EMPI to AWS from one TOML stack file: plan, apply, destroy."
)]
pub struct Cli {
    /// The stack file.
    #[arg(short, long, global = true, env = "EMPI_INFRA_STACK", value_name = "PATH")]
    pub stack: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Exceptions to Tuva EMPI's upgrade rule (upgrade through every release, never go back).
#[derive(clap::Args, Clone, Default)]
pub struct VersionChange {
    /// Allow an `app.version` change that skips a Tuva EMPI release.
    #[arg(long)]
    pub allow_version_skip: bool,
    /// Allow going back to an older Tuva EMPI version (its migrations cannot run backwards: only
    /// after restoring a database backup of that version).
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Allow a change that takes the database offline while RDS makes it: a PostgreSQL major
    /// upgrade (a snapshot is taken first).
    #[arg(long)]
    pub allow_downtime: bool,
    /// Go on with a Kubernetes upgrade although EKS's upgrade insight ID is in ERROR for the new
    /// version (after reading what it found); repeatable.
    #[arg(long = "allow-insight", value_name = "ID")]
    pub allow_insights: Vec<String>,
}

/// Which part of the stack a plan covers, and how much of the plan is shown.
#[derive(clap::Args, Clone, Default)]
pub struct PlanScope {
    /// Only this resource and what it depends on (destroy: and what depends on it): an address
    /// (`network.public_subnet[1]`), an address without its index (all instances), or an area
    /// (`database`); repeatable. The plan is partial: make a full plan afterwards.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Show every value of every change (each tag, whole policies, documents and manifests).
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Parse and check the stack file; no cloud calls.
    Validate,
    /// Refresh, diff and print what apply would do.
    Plan(PlanArgs),
    /// Plan and apply (or apply a saved plan exactly).
    Apply(ApplyArgs),
    /// Delete everything the stack created, dependents first.
    Destroy(DestroyArgs),
    /// Print a plan saved with `plan --out`: as text, or with --json as JSON.
    Show(ShowArgs),
    /// Print the stack's outputs (URL, cluster, database endpoint, secret ARN, user pool…).
    Output(OutputArgs),
    /// Inspect state or break a stale lock.
    #[command(subcommand)]
    State(StateCommand),
    /// Print the resource graph as Graphviz DOT.
    Graph,
    /// Compare the live cloud with state, read-only: exit 0 no drift, 2 drift, 1 error.
    Drift(DriftArgs),
    /// Check the security baseline (docs/SECURITY.md) on the stack's planned values and on the live
    /// cloud: every rule with its HIPAA §164.312 safeguard, CIS/FSBP controls and evidence.
    /// Exit 0: every rule passes or is waived; 2: a rule fails.
    Check(CheckArgs),
    /// Print a shell completion script: `source <(empi-infra completions bash)` (docs/CLI.md).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the stack file's JSON Schema, for editors (docs/STACK.md).
    Schema,
    /// Print the IAM policy a principal needs to run empi-infra on the stack, scoped to its names:
    /// `operator` (plan, apply, destroy) or `drift` (read-only) (docs/OPERATOR-IAM.md).
    IamPolicy(IamPolicyArgs),
    /// The stack's change history: one entry per command that changed anything (apply, destroy,
    /// db restore, rotate, state rebuild/import/unlock/migrate), oldest first (docs/OPERATIONS.md).
    History(HistoryArgs),
    /// Rotate a generated secret of the config secret, with the application running: shown as a
    /// plan first, then done in order (docs/OPERATIONS.md).
    Rotate(RotateArgs),
    /// Evidence for an auditor (docs/OPERATIONS.md).
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// The stack's database: restore drills that prove its backups restore, and recovery to a time
    /// (docs/RECOVERY.md).
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Restore the database to a new instance hardened as the stack's own, check it from inside
    /// the cluster, measure the recovery time, delete it, and keep the report beside the state.
    /// Changes nothing of the stack. Exit 0: every check passed; 2: one failed; 1: an error.
    RestoreDrill(RestoreDrillArgs),
    /// Recover the database to a time: restore it to a new instance hardened as the stack's own,
    /// check it as a drill does, then (after confirmation) switch the application to it; the old
    /// instance is kept, protected, until `db restore --finalize` snapshots and deletes it.
    /// Exit 0: switched (or finalized); 2: a check of the copy failed, nothing switched; 1: an error.
    Restore(RestoreArgs),
}

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// Write a directory an auditor reads: the baseline planned and live, the history, drift and
    /// restore-drill reports, rotations, waivers, the inventory, a diagram, a README and
    /// MANIFEST.sha256. Read-only; two exports with nothing changed in between are identical.
    Export(EvidenceExportArgs),
}

// The arguments of `evidence export` (what `cmd::evidence::export` takes).
#[derive(clap::Args)]
pub struct EvidenceExportArgs {
    /// The directory to write (made if missing; a previous bundle in it is replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only records (history entries, drift and drill reports) from this day on (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
}

/// A generated secret `rotate` rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RotatedSecret {
    /// The application's database password: a new password for the other of its two login roles,
    /// the backend pods rolled onto it, then the old one's password removed.
    DbPassword,
    /// The Django secret key: a new key, the backend pods rolled onto it.
    DjangoKey,
}

// The arguments of `rotate` (what `cmd::rotate::run` takes).
#[derive(clap::Args)]
pub struct RotateArgs {
    /// What to rotate.
    #[arg(value_enum)]
    pub secret: RotatedSecret,
    /// Do not ask before rotating.
    #[arg(long)]
    pub auto_approve: bool,
    /// Cloud calls in flight at once (the rotation's apply).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
}

// The arguments of `history` (what `cmd::history::run` takes).
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Print the entries as JSON.
    #[arg(long)]
    pub json: bool,
    /// Only the newest N entries.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

// The arguments of `db restore` (what `cmd::db::restore` and `cmd::db::finalize` take).
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The time to restore to (RFC 3339, e.g. 2026-12-01T09:30:00Z), within the backup retention.
    #[arg(
        long,
        value_name = "TIME",
        required_unless_present = "finalize",
        conflicts_with = "finalize"
    )]
    pub to: Option<String>,
    /// Take a final snapshot of the instance an earlier `db restore` replaced, and delete it.
    #[arg(long)]
    pub finalize: bool,
    /// Do not ask before switching the application (or before finalizing).
    #[arg(long)]
    pub auto_approve: bool,
    /// Keep a restored copy that failed its checks, to look into (the next drill deletes it).
    #[arg(long, conflicts_with = "finalize")]
    pub keep: bool,
    /// Cloud calls in flight at once (the switch's apply).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
}

// The arguments of `db restore-drill` (what `cmd::db::restore_drill` takes).
#[derive(clap::Args)]
pub struct RestoreDrillArgs {
    /// The time to restore to (RFC 3339, e.g. 2026-12-01T09:30:00Z); default: the latest time RDS
    /// can restore to (a few minutes ago).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Keep the drill instance afterwards (the next drill deletes it).
    #[arg(long)]
    pub keep: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

// The arguments of `plan` (what `cmd::plan::run` takes).
#[derive(clap::Args)]
pub struct PlanArgs {
    /// Save the plan for `apply PLANFILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON (docs/PLAN-JSON.md).
    #[arg(long)]
    pub json: bool,
    /// With `--json`, the JSON's schema: empi-infra's own (default) or Terraform's plan
    /// representation (for policy tools); `markdown`, without `--json`: a pull-request comment.
    #[arg(long, value_enum)]
    pub format: Option<PlanFormat>,
    /// Exit 0 when there are no changes, 2 when there are.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Read the cloud before diffing (default true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    #[command(flatten)]
    pub versions: VersionChange,
    #[command(flatten)]
    pub scope: PlanScope,
}

// The arguments of `apply` (what `cmd::apply::run` takes).
#[derive(clap::Args)]
pub struct ApplyArgs {
    /// A plan saved with `plan --out`.
    pub planfile: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Cloud calls in flight at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    /// Allow replacing this stateful resource (database, user pool, secret); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub allow_replace: Vec<String>,
    #[command(flatten)]
    pub versions: VersionChange,
    #[command(flatten)]
    pub scope: PlanScope,
}

// The arguments of `destroy` (what `cmd::destroy::run` takes).
#[derive(clap::Args)]
pub struct DestroyArgs {
    #[arg(long)]
    pub auto_approve: bool,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    #[command(flatten)]
    pub scope: PlanScope,
}

// The arguments of `show` (what `cmd::show::run` takes).
#[derive(clap::Args)]
pub struct ShowArgs {
    /// The saved plan.
    pub planfile: PathBuf,
    /// Print the plan as JSON (docs/PLAN-JSON.md).
    #[arg(long)]
    pub json: bool,
    /// With `--json`, the JSON's schema: empi-infra's own (default) or Terraform's plan
    /// representation (for policy tools); `markdown`, without `--json`: a pull-request comment.
    #[arg(long, value_enum)]
    pub format: Option<PlanFormat>,
}

// The arguments of `output` (what `cmd::output::run` takes).
#[derive(clap::Args)]
pub struct OutputArgs {
    pub name: Option<String>,
    #[arg(long)]
    pub json: bool,
}

// The arguments of `drift` (what `cmd::drift::run` takes).
#[derive(clap::Args)]
pub struct DriftArgs {
    /// Print the report as JSON (docs/DRIFT.md).
    #[arg(long)]
    pub json: bool,
    /// Run again at this interval (at least 1m, e.g. 1h, 15m) until stopped; a failed run does
    /// not stop it.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub every: Option<std::time::Duration>,
    /// POST a JSON summary (with a Slack-compatible `text`) here when drift is found.
    #[arg(long, value_name = "URL")]
    pub notify: Option<String>,
    /// Also ignore this address or address.attribute (adds to [drift] ignore); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub ignore: Vec<String>,
    /// Keep each run's report beside the state (`<state>.drifts/`), for `evidence export`.
    #[arg(long)]
    pub record: bool,
    /// Print the read-only IAM policy a drift run needs, and exit.
    #[arg(long)]
    pub print_iam_policy: bool,
}

// The arguments of `check` (what `cmd::check::run` takes).
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Print the evidence report as JSON (docs/SECURITY.md).
    #[arg(long)]
    pub json: bool,
    /// Check only the planned values; do not read the cloud (state may be empty).
    #[arg(long)]
    pub planned_only: bool,
}

/// The form a plan is printed in besides the terminal text: a JSON schema (with `--json`,
/// docs/PLAN-JSON.md) or a pull-request comment.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum PlanFormat {
    /// empi-infra's own plan JSON (the default of `--json`).
    Empi,
    /// Terraform's plan representation (`terraform show -json`, format 1.2): Checkov, OPA, Infracost read it.
    Terraform,
    /// A pull-request comment: the summary and what a reviewer must not miss first, the changes
    /// folded by area, at most 65,536 characters (GitHub's limit). Without `--json`.
    Markdown,
}

#[derive(Subcommand)]
pub enum StateCommand {
    /// Addresses of every recorded resource.
    List,
    /// One recorded resource.
    Show { address: String },
    /// Rebuild the state from the cloud alone: find every resource of the stack by its name and
    /// `empi-infra:*` tags (read-only), show what was found, and write it as the state once
    /// confirmed. For a lost, damaged or stale state.
    Rebuild {
        /// Write without asking.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Take over an existing object explicitly (like Terraform's import): read the object with
    /// this cloud id, show what `apply` would change on it, and record it at ADDRESS once
    /// confirmed. For an object the stack's name finds but its tags do not prove this stack's.
    Import {
        /// The stack's address to record it at (`empi-infra graph` or a plan lists them).
        address: String,
        /// The object's cloud id (an IAM role's name, a VPC id, a Kubernetes `namespace/name`…).
        id: String,
        /// Record it without asking.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Break the lock with this id (from the error that named it).
    Unlock { lock_id: String },
    /// Who holds the lock, if anyone.
    Locks,
    /// Move the state to another backend, keeping lineage and serial.
    Migrate {
        /// `s3` or `local`.
        #[arg(long, value_name = "BACKEND")]
        to: String,
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        kms_key_id: Option<String>,
    },
}

/// The shortest `drift --every`: each run reads every resource of the stack (some 90 AWS calls
/// for the example stacks), so a shorter interval only spends the account's API rate limits,
/// which its other users share, to learn nothing new.
pub const MIN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// The shortest `drift --every` against the local cloud (a loopback endpoint, where the rate is
/// nobody else's): what the tests of the loop use.
pub const MIN_EVERY_LOCAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Why `--every` is refused below [`MIN_EVERY`]: at parse time (below a second) and, against
/// AWS, when the command starts (`cmd::drift`).
pub const EVERY_WHY: &str = "each run reads every resource of the stack (some 90 AWS calls)";

/// `--every`: a humantime duration (`15m`, `1h`) of at least a second (`0s` or `1ns` would run
/// back to back); [`MIN_EVERY`] is checked once the endpoint is known.
fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d < MIN_EVERY_LOCAL => {
            Err(format!("the interval must be at least 1m: {EVERY_WHY}; e.g. 15m or 1h"))
        }
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e}; write a duration such as 15m or 1h")),
    }
}

// The arguments of `iam-policy` (what `cmd::iam_policy::run` takes).
#[derive(clap::Args)]
pub struct IamPolicyArgs {
    /// Which principal's policy.
    #[arg(value_enum)]
    pub policy: PolicyKind,
}

/// The two principals empi-infra's docs give a policy for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// Whoever runs `plan`, `apply` and `destroy`.
    Operator,
    /// A scheduled `drift` run: read-only.
    Drift,
}
