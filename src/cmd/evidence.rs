//! `evidence export --out DIR [--since DATE]`: a directory an auditor reads. The security
//! baseline planned and live, the change history, the drift and restore-drill reports scheduled
//! runs kept, the rotations, the waivers, the inventory of every resource, a diagram of the
//! deployed stack, a README indexing them and `MANIFEST.sha256`. Read-only (no lock taken, no
//! history entry), and deterministic: nothing in it says when it was exported, so two exports with
//! nothing changed in between are byte-identical. No secret value: state holds none, and every
//! file passes through the redaction of the values the run read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use empi_engine::{evidence, redact};
use serde_json::{json, Value};

use crate::cli::EvidenceExportArgs;
use crate::errors::fix;
use crate::out::keep_going;
use crate::session::{secret_rotations, Session};

/// The manifest's name: every other file of the bundle with its sha256.
pub const MANIFEST: &str = "MANIFEST.sha256";

/// Every file a bundle holds.
const BUNDLE_FILES: &[&str] = &[
    MANIFEST,
    "README.md",
    "architecture.svg",
    "check.json",
    "drifts.json",
    "drills.json",
    "history.json",
    "inventory.json",
    "restores.json",
    "rotations.json",
    "waivers.json",
];

pub async fn export(path: &Option<PathBuf>, args: EvidenceExportArgs) -> Result<ExitCode> {
    let since = match &args.since {
        Some(d) if empi_engine::env::date_problem(d).is_some() => {
            return Err(fix(
                format!("--since {d:?} is not a date"),
                "write it YYYY-MM-DD, e.g. --since 2026-01-01",
            ))
        }
        d => d.clone().unwrap_or_default(),
    };
    let out_dir = args.out.clone();
    let previous = previous_bundle(&out_dir)?;
    let mut session = Session::open(path).await?;
    session.refuse_while_locked("evidence export").await?;
    let state = session.backend.load().await?;
    if state.resources.is_empty() {
        return Err(fix(
            format!(
                "state records no resources for stack {:?}: there is nothing to give evidence of",
                session.stack.name
            ),
            "run `empi-infra apply` first (or check --stack)",
        ));
    }
    let cloud = session.connect().await?;
    session.place(&cloud, &state, false).await?;
    let stack = session.stack.clone();
    let after = |t: &str| since.is_empty() || t >= since.as_str();

    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let (planned, live) = crate::cmd::check::reports(&session, &cloud, &state, false).await?;
    let mut check = json!({
        "format_version": empi_engine::check::CHECK_FORMAT_VERSION,
        "stack": stack.name,
        "planned": planned,
        "live": live,
    });
    // the time of the check is the export's: left out
    for side in ["planned", "live"] {
        if let Some(o) = check[side].as_object_mut() {
            o.remove("checked_at");
        }
    }
    files.insert("check.json".into(), pretty(&check)?);

    let history: Vec<Value> = crate::history::entries(session.backend.as_ref())
        .await?
        .into_iter()
        .map(|e| serde_json::to_value(e.shown(None)))
        .collect::<Result<_, _>>()?;
    let history: Vec<Value> =
        history.into_iter().filter(|e| after(e["started"].as_str().unwrap_or_default())).collect();
    let rotations: Vec<Value> = history
        .iter()
        .filter(|e| e["command"].as_str().is_some_and(|c| c.starts_with("rotate ")))
        .filter(|e| e["outcome"] == "succeeded")
        .cloned()
        .collect();
    files.insert("history.json".into(), pretty(&json!({"since": since, "entries": history}))?);
    files.insert(
        "rotations.json".into(),
        pretty(&json!({
            "max_secret_age_days": stack.security.max_secret_age_days,
            "recorded": secret_rotations(&state),
            "rotations": rotations,
        }))?,
    );
    // each report by when its run happened (reports kept before they said so: the time restored to)
    for (kind, time_fields) in [
        ("drifts", ["checked_at", "checked_at"]),
        ("drills", ["started_at", "restored_to_time"]),
        ("restores", ["started_at", "restored_to_time"]),
    ] {
        let mut reports = Vec::new();
        for (name, body) in session.backend.records(kind).await? {
            let Ok(report) = serde_json::from_slice::<Value>(&body) else { continue };
            let at = time_fields
                .iter()
                .find_map(|f| report[*f].as_str().filter(|t| !t.is_empty()))
                .unwrap_or_default();
            if since.is_empty() || (!at.is_empty() && after(at)) {
                reports.push(json!({"record": name, "report": report}));
            }
        }
        files.insert(format!("{kind}.json"), pretty(&json!({"since": since, "reports": reports}))?);
    }
    files.insert("waivers.json".into(), pretty(&json!({"waivers": stack.security.waivers}))?);
    files.insert(
        "inventory.json".into(),
        pretty(&json!({
            "stack": stack.name,
            "region": stack.region,
            "state_lineage": state.lineage,
            "state_serial": state.serial,
            "resources": evidence::inventory(&state, &stack.region),
        }))?,
    );
    files.insert("architecture.svg".into(), svg(&evidence::architecture_dot(&state))?.into_bytes());
    files.insert("README.md".into(), readme(&stack, &state, &since, &files).into_bytes());
    // whatever the run read that is a secret is redacted from every file
    for body in files.values_mut() {
        if let Ok(text) = std::str::from_utf8(body) {
            let redacted = redact::values(text);
            if redacted != text {
                *body = redacted.into_owned().into_bytes();
            }
        }
    }
    let manifest = evidence::manifest(&files);
    files.insert(MANIFEST.into(), manifest.into_bytes());
    write_bundle(&out_dir, &files, &previous)?;
    keep_going(outln!(
        "Evidence of stack {:?} written to {} ({} files; `sha256sum -c {MANIFEST}` in it checks them).",
        stack.name,
        out_dir.display(),
        files.len()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn pretty(v: &Value) -> Result<Vec<u8>> {
    let mut body = serde_json::to_vec_pretty(v)?;
    body.push(b'\n');
    Ok(body)
}

/// The diagram drawn from its DOT graph, in-process (layout-rs), as an SVG document.
fn svg(dot: &str) -> Result<String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let graph = DotParser::new(dot)
        .process()
        .map_err(|e| anyhow!("the architecture diagram's graph does not parse: {e}"))?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut writer = SVGWriter::new();
    visual.do_it(false, false, false, &mut writer);
    Ok(writer.finalize())
}

/// The bundle's index: what each file is and how to check it.
fn readme(
    stack: &empi_engine::stack::Stack,
    state: &empi_engine::state::State,
    since: &str,
    files: &BTreeMap<String, Vec<u8>>,
) -> String {
    let describe = |name: &str| {
        match name {
        "check.json" => "the security baseline (docs/SECURITY.md) on the stack's planned values and on the live cloud, as the export found them: each rule with its HIPAA §164.312 safeguard, CIS/FSBP controls, evidence, fix and waiver",
        "history.json" => "every command that changed the stack (`empi-infra history`): who, when, the reviewed plan's sha256, the stack file's commit, the outcome",
        "rotations.json" => "when the generated database password and Django key were made and rotated, and each `rotate` run",
        "drifts.json" => "the reports of scheduled `drift --record` runs",
        "drills.json" => "the reports of `db restore-drill` runs: the restore, its checks, the recovery time",
        "restores.json" => "the reports of `db restore` runs",
        "waivers.json" => "the baseline failures a reviewer accepted (`[[security.waive]]`), each with its reason and expiry",
        "inventory.json" => "every resource state records: its address, kind, id, ARN, region, encryption and tags",
        "architecture.svg" => "the deployed stack drawn from state: its areas (network, cluster, database, identity, edge, …), what each holds, and what depends on what",
        _ => "",
    }
    };
    let mut out = format!(
        "# Evidence of stack {}\n\nRegion {}; state lineage {}, serial {}. Records {}.\n\n\
         The bundle holds no export time: two exports of the same day with nothing changed in between are identical, so name the directory after the day (evidence-YYYY-MM-DD). The live check is of the cloud at export, its ages and waivers as of that day.\n\n\
         | file | what |\n|---|---|\n",
        stack.name,
        stack.region,
        state.lineage,
        state.serial,
        if since.is_empty() { "from the first".to_string() } else { format!("from {since}") },
    );
    for name in files.keys().map(String::as_str).chain(["README.md"]) {
        if !describe(name).is_empty() {
            out.push_str(&format!("| `{name}` | {} |\n", describe(name)));
        }
    }
    out.push_str(&format!(
        "| `README.md` | this index |\n| `{MANIFEST}` | the sha256 of every other file: `sha256sum -c {MANIFEST}` checks the bundle |\n"
    ));
    out
}

/// The files of a bundle already in `dir` (listed in its manifest), which the new one replaces;
/// a directory holding anything else is refused.
fn previous_bundle(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", dir.display())),
    };
    let present: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    if present.is_empty() {
        return Ok(Vec::new());
    }
    // what a bundle holds (a bundle cut short has no manifest, and may leave `.NAME.tmp` files)
    let listed: Vec<String> = std::fs::read_to_string(dir.join(MANIFEST))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(_, f)| f.to_string()))
        .chain(BUNDLE_FILES.iter().map(|f| f.to_string()))
        .collect();
    let ours = |f: &String| {
        listed.contains(f)
            || f.strip_prefix('.')
                .and_then(|f| f.strip_suffix(".tmp"))
                .is_some_and(|f| BUNDLE_FILES.contains(&f))
    };
    if let Some(other) = present.iter().find(|f| !ours(f)) {
        return Err(fix(
            format!(
                "{} holds {other}, which no evidence bundle there lists, so it is not overwritten",
                dir.display()
            ),
            "export to an empty or new directory (e.g. --out evidence-YYYY-MM-DD)",
        ));
    }
    Ok(present)
}

/// Writes the bundle: each file written whole beside its place and renamed into it, the manifest
/// last (a previous bundle's goes first, so that a bundle cut short has none); files of a previous
/// bundle that this one lacks are removed.
fn write_bundle(dir: &Path, files: &BTreeMap<String, Vec<u8>>, previous: &[String]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stale = previous.iter().filter(|f| !files.contains_key(*f) || f.as_str() == MANIFEST);
    for old in stale {
        std::fs::remove_file(dir.join(old))
            .with_context(|| format!("cannot remove {old} of the previous bundle"))?;
    }
    let manifest_last =
        files.iter().filter(|(n, _)| n.as_str() != MANIFEST).chain(files.get_key_value(MANIFEST));
    for (name, body) in manifest_last {
        let target = dir.join(name);
        let temp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&temp, body).with_context(|| format!("cannot write {}", temp.display()))?;
        std::fs::rename(&temp, &target)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagram_of_areas_named_as_dot_words_renders_the_same_svg_twice() {
        let mut state = empi_engine::state::State::new("s");
        for (address, deps) in
            [("edge.alb", vec!["network.vpc"]), ("node.x", vec![]), ("network.vpc", vec![])]
        {
            state.resources.insert(
                address.into(),
                empi_engine::state::ResourceState {
                    kind: empi_engine::kinds::network::VPC.kind.into(),
                    name: address.into(),
                    id: None,
                    status: empi_engine::state::Status::Created,
                    attrs: [("cidr_block".to_string(), json!("10.0.0.0/16"))].into(),
                    outputs: Default::default(),
                    depends_on: deps.into_iter().map(String::from).collect(),
                },
            );
        }
        let dot = evidence::architecture_dot(&state);
        let drawn = svg(&dot).unwrap();
        assert_eq!(drawn, svg(&dot).unwrap(), "the same SVG every time");
        for label in ["EDGE", "NODE", "NETWORK", "internet", "VPC 10.0.0.0/16"] {
            assert!(drawn.contains(label), "{label} not drawn: {drawn}");
        }
    }
}
