//! `plan`: refresh, diff, print; and the plan file that `apply PLANFILE` applies exactly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use empi_engine::ops;
use empi_engine::plan::terraform::Provider;
use empi_engine::plan::{render_json, render_terraform, render_text_with, Plan, RenderOptions};

use crate::cli::{PlanFormat, PlanScope, VersionChange};
use crate::session::{Begun, Session};

pub async fn run(
    path: &Option<PathBuf>,
    out: Option<PathBuf>,
    json: Option<PlanFormat>,
    detailed_exitcode: bool,
    refresh: bool,
    versions: VersionChange,
    scope: PlanScope,
) -> Result<ExitCode> {
    let Begun { session, lock: _lock, state, cloud, placement } = Session::begin(path, "plan", versions).await?;
    let g = session.graph(&cloud.account)?;
    let mut plan = ops::make_targeted_plan(&g, &cloud.registry, &state, refresh, 10, &session.stack.digest, &scope.targets).await?;
    plan.facts = placement.facts;
    plan.warnings = placement.warnings;
    match json {
        Some(format) => println!("{}", serde_json::to_string_pretty(&plan_json(&plan, format, Some(session.stack.region.as_str())))?),
        None => print!("{}", render_text_with(&plan, &RenderOptions { verbose: scope.verbose })),
    }
    if let Some(out) = out {
        save(&out, &plan)?;
        if json.is_none() {
            println!("\nSaved the plan to {}. Apply exactly this plan with: empi-infra apply {}", out.display(), out.display());
        }
    }
    Ok(if detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// The plan as `--json --format FORMAT` prints it; `region` is the stack's (Terraform's provider
/// configuration records it).
pub fn plan_json(plan: &Plan, format: PlanFormat, region: Option<&str>) -> serde_json::Value {
    match format {
        PlanFormat::Empi => render_json(plan),
        PlanFormat::Terraform => render_terraform(plan, &Provider { region: region.map(String::from) }),
    }
}

pub fn save(path: &Path, plan: &Plan) -> Result<()> {
    let body = serde_json::to_vec_pretty(plan)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn load(path: &Path) -> Result<Plan> {
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
