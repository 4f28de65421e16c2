//! What a failed command tells its user: one sentence and the fix on stderr, or, for a command run
//! with `--json`, one JSON object on stdout and nothing else there (docs/CLI.md):
//! `{"error": {"message", "fix", "location"}, "errors": [...]}`. Exit codes: docs/CLI.md. Either way
//! the text passes `empi_engine::redact::message`: no secret, in any form, reaches stderr or stdout.

use std::process::ExitCode;

use empi_engine::stack::{StackError, StackErrors};
use serde_json::{json, Value};

/// An error the user can act on: what is wrong, and what to do about it. Shown as
/// "message; fix", and with `--json` as separate fields.
#[derive(Debug, thiserror::Error)]
#[error("{message}; {fix}")]
pub struct Fix {
    pub message: String,
    pub fix: String,
}

/// A [`Fix`] as an `anyhow::Error`, for `return Err(...)` and `ok_or_else`.
pub fn fix(message: impl Into<String>, fix: impl Into<String>) -> anyhow::Error {
    Fix { message: message.into(), fix: fix.into() }.into()
}

/// Exit status of a command that failed, and of a command line that could not be parsed. (clap
/// exits 2 on a usage error; here 2 means "changes" or "drift", which a scheduler treats as a
/// result, so a mistyped flag must not look like one.)
pub const FAILED: u8 = 1;

/// One problem as `--json` reports it.
struct Problem {
    message: String,
    fix: Option<String>,
    location: Option<String>,
}

impl Problem {
    /// Every field through `redact::message`: an error may quote what AWS or Kubernetes answered.
    fn json(&self) -> Value {
        let r = |s: &str| empi_engine::redact::message(s);
        json!({ "message": r(&self.message), "fix": self.fix.as_deref().map(r), "location": self.location.as_deref().map(r) })
    }
}

fn stack_problem(e: &StackError) -> Problem {
    // line 0: the file itself (it could not be read)
    let location =
        if e.line == 0 { e.file.clone() } else { format!("{}:{}:{}", e.file, e.line, e.column) };
    Problem { message: e.message.clone(), fix: e.help.clone(), location: Some(location) }
}

/// The problems an error reports: every one of a stack file's, else one.
fn problems(e: &anyhow::Error) -> Vec<Problem> {
    if let Some(StackErrors(all)) = e.downcast_ref::<StackErrors>() {
        if !all.is_empty() {
            return all.iter().map(stack_problem).collect();
        }
    }
    if let Some(f) = e.downcast_ref::<Fix>() {
        return vec![Problem {
            message: f.message.clone(),
            fix: Some(f.fix.clone()),
            location: None,
        }];
    }
    if let Some(f) = e.downcast_ref::<empi_engine::env::EnvError>() {
        return vec![Problem {
            message: format!("{}={:?} {}", f.name, f.value, f.why),
            fix: Some(f.fix.clone()),
            location: None,
        }];
    }
    if let Some(f) = e.downcast_ref::<crate::identity::IdentityError>() {
        return vec![Problem {
            message: f.message.clone(),
            fix: Some(f.fix.clone()),
            location: None,
        }];
    }
    vec![Problem { message: format!("{e:#}"), fix: None, location: None }]
}

/// The `--json` form of an error: `error` is the first problem, `errors` all of them (a stack file
/// can have several).
pub fn to_json(e: &anyhow::Error) -> Value {
    let all = problems(e);
    json!({ "error": all[0].json(), "errors": all.iter().map(Problem::json).collect::<Vec<_>>() })
}

/// Prints an error the way the command's output goes (`json`: on stdout as one object; else on
/// stderr as text); a closed stdout is no error (nothing is printed).
pub fn print(e: &anyhow::Error, json: bool) {
    if crate::out::closed(e) {
        return;
    }
    if json {
        if let Ok(text) = serde_json::to_string_pretty(&to_json(e)) {
            let _ = outln!("{text}");
        }
    } else {
        eprintln!("error: {}", empi_engine::redact::message(&format!("{e:#}")));
    }
}

/// The exit of a command that returned `e`: status 0 when only its stdout was closed, else 1.
pub fn exit(e: &anyhow::Error, json: bool) -> ExitCode {
    print(e, json);
    if crate::out::closed(e) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

/// The exit of a command line clap could not parse (or `--help`/`--version`, which succeed).
pub fn usage(e: clap::Error, json: bool) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if json {
        let text = e.render().to_string();
        let message =
            text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        let fix = text.lines().find_map(|l| l.trim().strip_prefix("tip: ")).map(String::from);
        let problem = Problem { message, fix, location: None }.json();
        let _ = outln!(
            "{}",
            serde_json::to_string_pretty(&json!({ "error": problem, "errors": [problem] }))
                .unwrap_or_default()
        );
    } else {
        let _ = e.print();
    }
    ExitCode::from(FAILED)
}
