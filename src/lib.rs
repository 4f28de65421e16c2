//! `empi-infra` as a library: the command line ([`cli`]), one module per command ([`cmd`]) over a
//! [`session::Session`] (the stack, its state, and the AWS and Kubernetes providers), the AWS kinds
//! ([`aws`]), the Kubernetes provider ([`k8s`]) and the S3 state backend ([`s3_state`]); the work
//! itself is the engine's (`empi_engine::ops`). `src/main.rs` is [`main`]; the integration tests use
//! the same types (`empi_infra::aws::Clients`…) instead of copies.

#[macro_use]
mod out;
pub mod aws;
pub mod cli;
pub mod cmd;
pub mod errors;
pub mod history;
pub mod identity;
pub mod k8s;
pub mod s3_state;
pub mod session;
pub mod signals;

use std::process::ExitCode;

use anyhow::Result;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

/// The whole program: what `empi-infra` does with its command line, as its exit status.
pub fn main() -> ExitCode {
    // the AWS SDK and kube share rustls: one process-wide crypto provider
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // the credentials of the environment are secrets like the generated ones
    for var in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Ok(v) = std::env::var(var) {
            empi_engine::redact::register(&v);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EMPI_INFRA_LOG")
                .unwrap_or_else(|_| "warn,aws_config=error".into()),
        )
        .with_writer(|| RedactedLog(Vec::new()))
        .init();
    // a command line that does not parse: whether it asked for JSON is all that is known
    let asked_json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return errors::usage(e, asked_json),
    };
    let json = json_flag(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return errors::usage(e, json),
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(signals::run(run(cli))) {
        Ok(code) => code,
        Err(e) => match e.downcast::<signals::Stopped>() {
            Ok(s) => {
                // what the dropped command left running (a prompt's read of stdin) is not waited for
                rt.shutdown_background();
                signals::exit(s)
            }
            Err(e) => errors::exit(&e, json),
        },
    }
}

/// One log event, written to stderr when the logger is done with it, through
/// `empi_engine::redact::message` (any level: `EMPI_INFRA_LOG=trace` shows what the SDKs log).
struct RedactedLog(Vec<u8>);

impl std::io::Write for RedactedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedLog {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let text = empi_engine::redact::message(&String::from_utf8_lossy(&self.0));
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
        }
    }
}

/// Whether the command given has a `--json` flag and it is set: then an error is JSON too.
fn json_flag(m: &ArgMatches) -> bool {
    matches!(m.try_get_one::<bool>("json"), Ok(Some(true)))
        || m.subcommand().is_some_and(|(_, sub)| json_flag(sub))
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let result = dispatch(cli).await;
    // the entry of a command that changes anything, completed with how it ended
    history::finish(&result).await;
    result
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let stack = &cli.stack;
    match cli.command {
        Command::Validate => cmd::validate::validate(stack),
        Command::Graph => cmd::validate::graph(stack),
        Command::Plan(args) => cmd::plan::run(stack, args).await,
        Command::Show(args) => cmd::show::run(stack, args),
        Command::Apply(args) => cmd::apply::run(stack, args).await,
        Command::Destroy(args) => cmd::destroy::run(stack, args).await,
        Command::Drift(args) => cmd::drift::run(stack, args).await,
        Command::Check(args) => cmd::check::run(stack, args).await,
        Command::Output(args) => cmd::output::run(stack, args).await,
        Command::State(sc) => cmd::state::run(stack, sc).await,
        Command::Completions { shell } => cmd::completions::run(shell),
        Command::Schema => cmd::schema::run(),
        Command::IamPolicy(args) => cmd::iam_policy::run(stack, args),
        Command::History(args) => cmd::history::run(stack, args).await,
        Command::Rotate(args) => cmd::rotate::run(stack, args).await,
        Command::Evidence(crate::cli::EvidenceCommand::Export(args)) => {
            cmd::evidence::export(stack, args).await
        }
        Command::Db(crate::cli::DbCommand::RestoreDrill(args)) => {
            cmd::db::restore_drill(stack, args).await
        }
        Command::Db(crate::cli::DbCommand::Restore(args)) if args.finalize => {
            cmd::db::finalize(stack, args).await
        }
        Command::Db(crate::cli::DbCommand::Restore(args)) => cmd::db::restore(stack, args).await,
    }
}
