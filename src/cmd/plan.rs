//! `plan`: refresh, diff, print; and the plan file that `apply PLANFILE` applies exactly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use empi_engine::graph::ResourceGraph;
use empi_engine::input::read_regular_file;
use empi_engine::ops;
use empi_engine::plan::cost;
use empi_engine::plan::terraform::Provider;
use empi_engine::plan::{
    render_json, render_markdown_within, render_terraform, render_text_with, Plan, RenderOptions,
    COMMENT_MAX,
};
use empi_engine::redact;
use empi_engine::stack::Stack;
use empi_engine::state::State;
use empi_engine::temp_path::TempPath;

use crate::cli::{PlanArgs, PlanFormat};
use crate::errors::fix;
use crate::session::{Begun, Placement, Session};

pub async fn run(path: &Option<PathBuf>, args: PlanArgs) -> Result<ExitCode> {
    let PlanArgs { out, json, format, detailed_exitcode, refresh, versions, scope } = args;
    let shape = Shape::of(json, format)?;
    if let Some(out) = &out {
        // before the refresh, which can take minutes
        check_out(out)?;
    }
    let Begun { session, lock: _lock, state, cloud, placement } =
        Session::begin(path, "plan", versions).await?;
    let g = session.graph(&cloud.account)?;
    let mut plan = ops::make_targeted_plan(
        &g,
        &cloud.registry,
        &state,
        refresh,
        10,
        &session.stack.digest,
        &scope.targets,
    )
    .await?;
    review(&mut plan, &g, &state, &session.stack, placement);
    // saved first: with --json, a plan that could not be saved is an error object, not a plan
    if let Some(out) = &out {
        save(out, &plan)?;
    }
    // every secret the run holds, in any form, is redacted from what is printed (empi_engine::redact)
    print(&plan, shape, Some(session.stack.region.as_str()), scope.verbose)?;
    if let (Some(out), Shape::Text) = (&out, shape) {
        outln!(
            "\nSaved the plan to {}. Apply exactly this plan with: empi-infra apply {}",
            out.display(),
            out.display()
        )?;
    }
    Ok(if detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// What `plan` and `apply` add to a plan for its reader: the placement's facts and warnings, the
/// security baseline's failures, a Tuva EMPI version change, and the monthly cost.
pub fn review(
    plan: &mut Plan,
    g: &ResourceGraph,
    state: &State,
    stack: &Stack,
    placement: Placement,
) {
    plan.facts = placement.facts;
    plan.warnings = placement.warnings;
    let (warning, failing) = empi_engine::check::baseline_findings(g, state, stack);
    plan.warnings.extend(warning);
    plan.review.failing_checks = failing;
    plan.review.app_version = crate::session::recorded_version(state)
        .filter(|v| *v != stack.app.version)
        .map(|v| (v, stack.app.version.clone()));
    let cost = cost::estimate(plan, &stack.region, &empi_engine::eks_versions::today());
    plan.warnings.extend(cost.region_warning());
    plan.cost = Some(cost);
}

/// How `plan` and `show` print a plan, from `--json` and `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Text,
    Json(PlanFormat),
    Markdown,
}

impl Shape {
    pub fn of(json: bool, format: Option<PlanFormat>) -> Result<Shape> {
        match (json, format) {
            (false, None) => Ok(Shape::Text),
            (true, None) => Ok(Shape::Json(PlanFormat::Empi)),
            (true, Some(PlanFormat::Markdown)) => Err(fix(
                "--format markdown prints a pull-request comment, not JSON",
                "drop --json: `--format markdown`",
            )),
            (true, Some(f)) => Ok(Shape::Json(f)),
            (false, Some(PlanFormat::Markdown)) => Ok(Shape::Markdown),
            (false, Some(f)) => Err(fix(
                format!(
                    "--format {} is a JSON schema, so it needs --json",
                    if f == PlanFormat::Terraform { "terraform" } else { "empi" }
                ),
                "add --json, or use --format markdown for a pull-request comment",
            )),
        }
    }
}

/// Prints `plan` as `shape` says, every secret the run holds redacted.
pub fn print(plan: &Plan, shape: Shape, region: Option<&str>, verbose: bool) -> Result<()> {
    match shape {
        Shape::Json(format) => {
            let mut doc = plan_json(plan, format, region);
            redact::json(&mut doc);
            outln!("{}", serde_json::to_string_pretty(&doc)?)?
        }
        Shape::Markdown => out!("{}", markdown(plan))?,
        Shape::Text => {
            out!("{}", redact::values(&render_text_with(plan, &RenderOptions { verbose })))?
        }
    }
    Ok(())
}

/// The plan's pull-request comment, redacted, within GitHub's limit: a redacted secret may be
/// longer than the secret was, so an overlong comment is made again with less room.
fn markdown(plan: &Plan) -> String {
    let mut room = COMMENT_MAX;
    loop {
        let text = redact::values(&render_markdown_within(plan, room)).into_owned();
        let over = text.chars().count().saturating_sub(COMMENT_MAX);
        if over == 0 || room <= COMMENT_MAX / 2 {
            return text;
        }
        room -= over + 1_000;
    }
}

/// The plan as `--json --format FORMAT` prints it; `region` is the stack's (Terraform's provider
/// configuration records it).
pub fn plan_json(plan: &Plan, format: PlanFormat, region: Option<&str>) -> serde_json::Value {
    match format {
        PlanFormat::Empi => render_json(plan),
        PlanFormat::Terraform => {
            render_terraform(plan, &Provider { region: region.map(String::from) })
        }
        // `Shape::of` never makes a JSON shape of it; were it asked for, the plan's own JSON
        PlanFormat::Markdown => render_json(plan),
    }
}

/// Refuses a `--out` that names a directory.
fn check_out(out: &Path) -> Result<()> {
    if out.is_dir() {
        return Err(fix(
            format!("--out {} is a directory, but a plan is saved to a file", out.display()),
            format!("name a file, e.g. --out {}", out.join("plan.json").display()),
        ));
    }
    Ok(())
}

/// Writes the plan atomically: a temp file beside it, renamed over it; the temp file is removed on
/// every error path.
pub fn save(path: &Path, plan: &Plan) -> Result<()> {
    check_out(path)?;
    // sealed with a digest of its content: `show` and `apply` refuse a file changed since
    let body = serde_json::to_vec_pretty(&plan.clone().sealed())?;
    let name =
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "plan".into());
    let tmp = TempPath::new(path.with_file_name(format!("{name}.tmp-{}", std::process::id())));
    std::fs::write(tmp.path(), body)
        .with_context(|| format!("cannot write the plan file {}", path.display()))?;
    std::fs::rename(tmp.path(), path)
        .with_context(|| format!("cannot write the plan file {}", path.display()))?;
    Ok(())
}

/// The largest plan file read. empi-infra's architecture is fixed: the plan of
/// stacks/example-prod.toml (77 resources, every one a create, pretty-printed as `plan --out` writes
/// it) is 377 KB, and an update carries the recorded object beside the new one, so a real plan stays
/// under 1 MB. Parsing holds about 8 times the file in memory (measured: a 32 MB plan peaks at
/// 260 MB; a 248 MB one took 2 GB), so the limit bounds a load to some 260 MB while staying 85 times
/// above the production plan (tests/it/cli.rs measures it on every run).
const PLAN_FILE_LIMIT: u64 = 32 << 20;

pub fn load(path: &Path) -> Result<Plan> {
    let bytes = read_regular_file(path, PLAN_FILE_LIMIT)
        .with_context(|| format!("cannot read the plan file {}", path.display()))?;
    let plan: Plan = serde_json::from_slice(&bytes).map_err(|e| {
        fix(
            format!("{} is not a plan saved by `empi-infra plan --out` ({e})", path.display()),
            "make one with `empi-infra plan --out FILE`",
        )
    })?;
    if !plan.digest_matches() {
        return Err(fix(
            format!(
                "{} was changed after `empi-infra plan --out` wrote it (its content no longer matches its digest{}), so neither `show` nor `apply` trusts it",
                path.display(),
                if plan.digest.is_none() { ": it has none" } else { "" }
            ),
            "make the plan again with `empi-infra plan --out FILE`, and review and apply that file unchanged",
        ));
    }
    if plan.format_version != empi_engine::plan::PLAN_FORMAT_VERSION {
        return Err(fix(
            format!(
                "{} is a plan of format {}, but this empi-infra applies format {}",
                path.display(),
                plan.format_version,
                empi_engine::plan::PLAN_FORMAT_VERSION
            ),
            "make the plan again",
        ));
    }
    Ok(plan)
}
