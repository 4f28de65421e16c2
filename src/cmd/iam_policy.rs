//! `iam-policy`: the IAM policy of the operator or of a drift run, generated from the kind
//! declarations and scoped to the stack's names; docs/OPERATOR-IAM.md prints the same with
//! placeholders.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{IamPolicyArgs, PolicyKind};

/// Runs `iam-policy`.
pub fn run(stack: &Option<PathBuf>, args: IamPolicyArgs) -> Result<ExitCode> {
    // the account is `*`: no credentials are needed to print it, and IAM acts in the account of
    // the principal it is attached to
    let stack = crate::session::load_stack(stack)?;
    let scope = stack.iam_scope(None);
    let policy = match args.policy {
        PolicyKind::Operator => empi_engine::kinds::operator_policy(&scope),
        PolicyKind::Drift => empi_engine::kinds::drift_policy(&scope),
    };
    outln!("{}", serde_json::to_string_pretty(&policy)?)?;
    Ok(ExitCode::SUCCESS)
}
