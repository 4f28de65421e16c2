//! `empi-infra`: the command line (PRODUCT.md §2). Parses arguments, loads the stack and state,
//! and hands the work to the engine (`empi_engine::ops`) with the AWS provider (`aws`).

mod aws;
mod drift_cmd;
mod k8s;
mod s3_state;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use empi_engine::exec::{ExecOptions, StderrProgress};
use empi_engine::graph::ResourceGraph;
use empi_engine::plan::{render_json, render_text, Action, Plan};
use empi_engine::resource::Registry;
use empi_engine::stack::{Stack, StateConfig};
use empi_engine::state::{LocalBackend, State, StateStore};
use empi_engine::{blueprint, ops};

#[derive(Parser)]
#[command(name = "empi-infra", version, about = "Deploys Tuva EMPI to AWS from one TOML stack file: plan, apply, destroy.")]
struct Cli {
    /// The stack file.
    #[arg(short, long, global = true, env = "EMPI_INFRA_STACK", value_name = "PATH")]
    stack: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check the stack file; no cloud calls.
    Validate,
    /// Refresh, diff and print what apply would do.
    Plan {
        /// Save the plan for `apply PLANFILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the plan as JSON (docs/PLAN-JSON.md).
        #[arg(long)]
        json: bool,
        /// Exit 0 when there are no changes, 2 when there are.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Read the cloud before diffing (default true).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        refresh: bool,
    },
    /// Plan and apply (or apply a saved plan exactly).
    Apply {
        /// A plan saved with `plan --out`.
        planfile: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Cloud calls in flight at once.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
        /// Allow replacing this stateful resource (database, user pool, secret); repeatable.
        #[arg(long, value_name = "ADDR")]
        allow_replace: Vec<String>,
    },
    /// Delete everything the stack created, dependents first.
    Destroy {
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
    },
    /// Print the stack's outputs (URL, cluster, database endpoint, secret ARN, user pool…).
    Output {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Inspect state or break a stale lock.
    #[command(subcommand)]
    State(StateCommand),
    /// Print the resource graph as Graphviz DOT.
    Graph,
    /// Compare the live cloud with state, read-only: exit 0 no drift, 2 drift, 1 error.
    Drift {
        /// Print the report as JSON (docs/drift.md).
        #[arg(long)]
        json: bool,
        /// Run again at this interval (e.g. 1h, 15m) until stopped; a failed run does not stop it.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        every: Option<std::time::Duration>,
        /// POST a JSON summary (with a Slack-compatible `text`) here when drift is found.
        #[arg(long, value_name = "URL")]
        notify: Option<String>,
        /// Also ignore this address or address.attribute (adds to [drift] ignore); repeatable.
        #[arg(long, value_name = "ADDR")]
        ignore: Vec<String>,
        /// Print the read-only IAM policy a drift run needs, and exit.
        #[arg(long)]
        print_iam_policy: bool,
    },
}

#[derive(Subcommand)]
enum StateCommand {
    /// Addresses of every recorded resource.
    List,
    /// One recorded resource.
    Show { address: String },
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

fn main() -> ExitCode {
    // the AWS SDK and kube share rustls: one process-wide crypto provider
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("EMPI_INFRA_LOG").unwrap_or_else(|_| "warn,aws_config=error".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

pub(crate) fn load_stack(path: &Option<PathBuf>) -> Result<Stack> {
    let Some(path) = path else {
        bail!("no stack file given; pass --stack stacks/<name>.toml or set EMPI_INFRA_STACK");
    };
    Stack::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The account id stands in globally unique names; commands without cloud calls show a placeholder.
const NO_ACCOUNT: &str = "ACCOUNT";

pub(crate) fn graph_of(stack: &Stack, account: &str) -> Result<ResourceGraph> {
    let graph = ResourceGraph::new(blueprint::expand(stack, account))
        .and_then(|g| g.check(&empi_engine::kinds::schema).map(|()| g))
        .context("the stack expands into resources that do not fit their kinds (a bug in empi-infra)")?;
    Ok(graph)
}

/// The local state backend's directory (`EMPI_INFRA_STATE_DIR`, default `state/`).
fn local_store(stack: &Stack) -> Arc<dyn StateStore> {
    let dir = std::env::var_os("EMPI_INFRA_STATE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("state"));
    Arc::new(LocalBackend::new(&dir, &stack.name))
}

async fn s3_store(stack: &Stack, bucket: &str, key: &str, region: &str, kms_key_id: Option<String>) -> Arc<dyn StateStore> {
    let mut target = aws::Target::from_stack(stack);
    target.region = region.to_string();
    let conf = aws::sdk_config(&target).await;
    Arc::new(s3_state::S3Backend(Arc::new(s3_state::S3Store::new(
        aws::s3_client(&conf, &target),
        bucket.into(),
        key.into(),
        kms_key_id,
        &stack.name,
    ))))
}

/// Where the stack's state lives ([state] in the stack).
pub(crate) async fn backend(stack: &Stack) -> Result<Arc<dyn StateStore>> {
    Ok(match &stack.state {
        StateConfig::Local => local_store(stack),
        StateConfig::S3 { bucket, key, region, kms_key_id } => s3_store(stack, bucket, key, region, kms_key_id.clone()).await,
    })
}

/// The AWS and Kubernetes providers, and the account they work in.
pub(crate) async fn connect(stack: &Stack) -> Result<(Registry, String)> {
    let target = aws::Target::from_stack(stack);
    let clients = Arc::new(aws::Clients::new(&target).await);
    let account = clients.account_id().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // EMPI_INFRA_KUBECONFIG wins over [target] kubeconfig; neither: the EKS cluster itself
    let kubeconfig = std::env::var_os("EMPI_INFRA_KUBECONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| stack.target.kubeconfig.as_ref().map(PathBuf::from));
    let conn = Arc::new(k8s::Connection::new(kubeconfig, clients.sdk.clone(), stack.region.clone()));
    let mut registry = aws::registry(clients);
    k8s::register(&mut registry, conn);
    Ok((registry, account))
}

fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("apply needs confirmation, but there is no terminal to ask on; review the plan and pass --auto-approve");
    }
    print!("{question}\n  Only 'yes' will be accepted: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate => {
            let stack = load_stack(&cli.stack)?;
            let g = graph_of(&stack, NO_ACCOUNT)?;
            println!("{}: stack {:?} is valid ({} resources in {}).", stack.path.display(), stack.name, g.len(), stack.region);
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph => {
            let stack = load_stack(&cli.stack)?;
            print!("{}", graph_of(&stack, NO_ACCOUNT)?.to_dot());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { out, json, detailed_exitcode, refresh } => {
            let stack = load_stack(&cli.stack)?;
            let backend = backend(&stack).await?;
            let _lock = backend.lock("plan").await?;
            let state = backend.load().await?;
            let (registry, account) = connect(&stack).await?;
            let g = graph_of(&stack, &account)?;
            let plan = ops::make_plan(&g, &registry, &state, refresh, 10, &stack.digest).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&render_json(&plan))?);
            } else {
                print!("{}", render_text(&plan));
            }
            if let Some(out) = out {
                save_plan(&out, &plan)?;
                if !json {
                    println!("\nSaved the plan to {}. Apply exactly this plan with: empi-infra apply {}", out.display(), out.display());
                }
            }
            Ok(if detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        Command::Apply { planfile, auto_approve, parallelism, allow_replace } => {
            let stack = load_stack(&cli.stack)?;
            let backend = backend(&stack).await?;
            let _lock = backend.lock("apply").await?;
            let state = backend.load().await?;
            let (registry, account) = connect(&stack).await?;
            let g = graph_of(&stack, &account)?;
            let plan = match &planfile {
                // ops::apply refuses it if the state moved since
                Some(f) => {
                    let plan = load_plan(f)?;
                    if plan.stack_digest != stack.digest {
                        bail!("the saved plan is stale: the stack file {} changed since the plan was made; run `empi-infra plan --out FILE` again", stack.path.display());
                    }
                    plan
                }
                None => ops::make_plan(&g, &registry, &state, true, parallelism as usize, &stack.digest).await?,
            };
            print!("{}", render_text(&plan));
            if !plan.has_changes() {
                print_outputs(&stack, &state);
                return Ok(ExitCode::SUCCESS);
            }
            ops::check_stateful(&plan, &allow_replace)?;
            if planfile.is_none() && !auto_approve && !confirm("\nDo you want to perform these actions?")? {
                println!("Apply cancelled.");
                return Ok(ExitCode::from(1));
            }
            execute(&stack, &plan, &registry, &backend, state, parallelism, "Apply").await
        }
        Command::Destroy { auto_approve, parallelism } => {
            let stack = load_stack(&cli.stack)?;
            let backend = backend(&stack).await?;
            let _lock = backend.lock("destroy").await?;
            let state = backend.load().await?;
            if state.resources.is_empty() {
                println!("Nothing to destroy: state records no resources for stack {:?}.", stack.name);
                return Ok(ExitCode::SUCCESS);
            }
            let (registry, _) = connect(&stack).await?;
            let plan = ops::make_destroy_plan(&registry, &state, parallelism as usize, &stack.digest).await?;
            print!("{}", render_text(&plan));
            if !auto_approve && !confirm(&format!("\nDestroy every resource of stack {:?}? This cannot be undone.", stack.name))? {
                println!("Destroy cancelled.");
                return Ok(ExitCode::from(1));
            }
            execute(&stack, &plan, &registry, &backend, state, parallelism, "Destroy").await
        }
        Command::Drift { json, every, notify, ignore, print_iam_policy } => {
            if print_iam_policy {
                println!("{}", drift_cmd::IAM_POLICY.trim());
                return Ok(ExitCode::SUCCESS);
            }
            let stack_path = cli.stack.clone();
            let run = || drift_cmd::run_once(&stack_path, json, notify.as_deref(), &ignore);
            match every {
                None => run().await,
                Some(period) => {
                    let mut tick = tokio::time::interval(period);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        match run().await {
                            Ok(_) => {}
                            Err(e) => eprintln!("error: drift run failed: {e:#}; trying again in {}", humantime::format_duration(period)),
                        }
                    }
                }
            }
        }
        Command::Output { name, json } => {
            let stack = load_stack(&cli.stack)?;
            let state = backend(&stack).await?.load().await?;
            let outs = ops::outputs(&blueprint::outputs(&stack), &state);
            match name {
                Some(n) => {
                    let v = outs.get(&n).ok_or_else(|| {
                        anyhow::anyhow!("no output named {n:?}; outputs are: {}", outs.keys().cloned().collect::<Vec<_>>().join(", "))
                    })?;
                    let Some(v) = v else { bail!("output {n:?} is not known yet: run `empi-infra apply` first") };
                    if json {
                        println!("{v}");
                    } else {
                        println!("{}", v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
                    }
                }
                None if json => println!("{}", serde_json::to_string_pretty(&outs)?),
                None => print_outputs(&stack, &state),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::State(sc) => {
            let stack = load_stack(&cli.stack)?;
            let backend = backend(&stack).await?;
            match sc {
                StateCommand::List => {
                    for a in backend.load().await?.resources.keys() {
                        println!("{a}");
                    }
                }
                StateCommand::Show { address } => {
                    let state = backend.load().await?;
                    let r = state
                        .resources
                        .get(&address)
                        .ok_or_else(|| anyhow::anyhow!("state has no resource {address:?}; `empi-infra state list` shows what it has"))?;
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "address": address, "resource": r }))?);
                }
                StateCommand::Unlock { lock_id } => {
                    let held = backend.unlock(&lock_id).await?;
                    println!(
                        "Broke lock {} held by {}@{} (pid {}, `{}`, since {}).",
                        held.id, held.owner, held.host, held.pid, held.operation, held.created
                    );
                }
                StateCommand::Locks => match backend.lock_holder().await? {
                    None => println!("No lock is held on {}.", backend.location()),
                    Some(h) => {
                        println!("{} is locked:", backend.location());
                        println!(
                            "  id        {}\n  holder    {}@{} (pid {})\n  operation {}\n  since     {}",
                            h.id, h.owner, h.host, h.pid, h.operation, h.created
                        );
                        if let Some(l) = &h.lease_expires {
                            println!("  lease     until {l} (renewed while the holder runs)");
                        }
                        println!("If that run is gone: empi-infra state unlock {}", h.id);
                    }
                },
                StateCommand::Migrate { to, bucket, key, region, kms_key_id } => {
                    let dest: Arc<dyn StateStore> = match to.as_str() {
                        "local" => local_store(&stack),
                        "s3" => {
                            let (Some(bucket), Some(key)) = (bucket, key) else {
                                bail!("state migrate --to s3 needs --bucket and --key");
                            };
                            let region = region.unwrap_or_else(|| stack.region.clone());
                            s3_store(&stack, &bucket, &key, &region, kms_key_id).await
                        }
                        other => bail!("unknown backend {other:?}; use --to s3 or --to local"),
                    };
                    if dest.location() == backend.location() {
                        bail!("the state already lives in {}", dest.location());
                    }
                    let _from = backend.lock("state migrate").await?;
                    let _to = dest.lock("state migrate").await?;
                    let state = backend.load().await?;
                    let existing = dest.load().await?;
                    if !existing.resources.is_empty() && existing.lineage != state.lineage {
                        bail!("{} already holds a different state (lineage {}); move it aside first", dest.location(), existing.lineage);
                    }
                    dest.save(&state).await?;
                    if dest.load().await? != state {
                        bail!("the state written to {} does not read back the same; the source is unchanged", dest.location());
                    }
                    println!(
                        "Moved the state of stack {:?} (lineage {}, serial {}, {} resources) from {} to {}.",
                        stack.name,
                        state.lineage,
                        state.serial,
                        state.resources.len(),
                        backend.location(),
                        dest.location()
                    );
                    println!(
                        "Now point [state] in {} at {}; the old copy can be removed once that works.",
                        stack.path.display(),
                        dest.location()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn execute(
    stack: &Stack,
    plan: &Plan,
    registry: &Registry,
    backend: &Arc<dyn StateStore>,
    state: State,
    parallelism: u16,
    verb: &str,
) -> Result<ExitCode> {
    let opts = ExecOptions { parallelism: parallelism as usize, ..ExecOptions::default() };
    let signals = stop_on_signals(opts.stop.clone());
    let (report, state) = ops::apply(plan, registry, backend.clone(), state, opts, Arc::new(StderrProgress)).await?;
    signals.abort();
    let count = |a: Action| report.done.iter().filter(|(_, x)| *x == a).count();
    let summary = format!(
        "{} added, {} changed, {} replaced, {} destroyed",
        count(Action::Create),
        count(Action::Update),
        count(Action::Replace),
        count(Action::Delete)
    );
    if report.ok() {
        println!("\n{verb} complete after {}. Resources: {summary}.", empi_engine::exec::format_duration(report.elapsed));
        if !plan.destroy {
            print_outputs(stack, &state);
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("\n{verb} failed after {}. Resources: {summary}.", empi_engine::exec::format_duration(report.elapsed));
        for e in &report.failed {
            eprintln!("error: {e}");
        }
        if !report.skipped.is_empty() {
            let why = if report.interrupted { "interrupted" } else { "not attempted because something they depend on failed" };
            eprintln!("{why}: {}", report.skipped.join(", "));
        }
        if report.interrupted {
            eprintln!("Stopped by a signal. State records everything that was started; run the command again to continue.");
            return Ok(ExitCode::from(130));
        }
        eprintln!("State records everything that finished; fix the cause and run the command again to continue.");
        Ok(ExitCode::from(1))
    }
}

/// First SIGINT/SIGTERM: start nothing new, record what is in flight, then stop. Second: exit at
/// once (state is written atomically, so it is valid whenever the process ends).
fn stop_on_signals(stop: Arc<std::sync::atomic::AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
        for n in 0.. {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            if n == 0 {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                eprintln!("\nStopping: no new operations start; what is in flight is recorded. Press Ctrl-C again to stop at once.");
            } else {
                eprintln!("\nStopped at once. State is valid; the next run finds what was started.");
                std::process::exit(130);
            }
        }
    })
}

fn print_outputs(stack: &Stack, state: &State) {
    let outs = ops::outputs(&blueprint::outputs(stack), state);
    if outs.values().all(|v| v.is_none()) || state.resources.is_empty() {
        return;
    }
    println!("\nOutputs:");
    let w = outs.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, v) in outs {
        let v = match v {
            Some(serde_json::Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => "(not created yet)".into(),
        };
        println!("  {k:w$} = {v}");
    }
}

fn save_plan(path: &Path, plan: &Plan) -> Result<()> {
    let body = serde_json::to_vec_pretty(plan)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn load_plan(path: &Path) -> Result<Plan> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the plan file {}", path.display()))?;
    let plan: Plan =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a plan saved by `empi-infra plan --out`", path.display()))?;
    if plan.format_version != empi_engine::plan::PLAN_FORMAT_VERSION {
        bail!(
            "{} is a plan of format {}, but this empi-infra applies format {}; make the plan again",
            path.display(),
            plan.format_version,
            empi_engine::plan::PLAN_FORMAT_VERSION
        );
    }
    Ok(plan)
}
