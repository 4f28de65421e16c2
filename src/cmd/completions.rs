//! `completions SHELL`: the shell completion script clap_complete generates from the command line's
//! own definition (`crate::cli`), so it names every command and flag there is.

use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;

const BIN: &str = "empi-infra";

pub fn run(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == clap_complete::Shell::Bash {
        script = fix_hyphenated_bash(&script);
    }
    out!("{script}")?;
    Ok(ExitCode::SUCCESS)
}

/// clap_complete's bash script, for a binary whose name has a hyphen, spells the state of its
/// dispatch loop `empi__infra__subcmd__drift` but its case arms `empi__subcmd__infra__subcmd__drift`,
/// so nothing after a subcommand completes (clap-rs/clap#6421, open). The arms are spelled as the
/// loop spells them; once clap_complete is fixed there is nothing to replace.
fn fix_hyphenated_bash(script: &str) -> String {
    let loop_spelling = BIN.replace('-', "__");
    let arm_spelling = BIN.replace('-', "__subcmd__");
    script.replace(&format!("        {arm_spelling}"), &format!("        {loop_spelling}"))
}
