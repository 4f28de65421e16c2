//! The Tuva EMPI versions empi-infra knows, and what a stack's `app.version` gets from them. The
//! facts are data, read from upstream's code with the commit of each (`data/tuva-versions.json`,
//! explained in docs/TUVA.md): entrypoint modes, the config schema `backend/main/config.py`
//! validates, and when each feature reached upstream's `main`.
//!
//! A version is classified as: a known release tag (`v0.1.0`); a commit of `main` the table lists
//! (its features are those merged at or before it); or, for an unknown commit or a newer release
//! tag, the newest known version, with a warning that says so.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

static DATA: &str = include_str!("../data/tuva-versions.json");

#[derive(Deserialize)]
struct Table {
    versions: Vec<Entry>,
    milestones: Vec<Milestone>,
    migration_extensions: Vec<MigrationExtension>,
    main_first_parent: Vec<(String, String)>,
}

/// A PostgreSQL extension one of upstream's migrations creates.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct MigrationExtension {
    pub extension: String,
    pub migration: String,
    /// The migration's operation, as upstream wrote it.
    pub operation: String,
    /// `path@short-commit:line` where it was read.
    pub source: String,
    /// The first `main` commit with the migration; `None`: not on `main` yet.
    pub main_commit: Option<String>,
    /// The upstream pull request that brings it, while it is not on `main`.
    pub pull_request: Option<u32>,
}

/// Every extension upstream's migrations create, as read (`migration_extensions` of the table).
pub fn migration_extensions() -> &'static [MigrationExtension] {
    &table().migration_extensions
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    commit: String,
    config_schema: serde_json::Map<String, Value>,
    /// The newest migration of upstream's `main` app at this version.
    last_migration: String,
}

#[derive(Deserialize)]
struct Milestone {
    feature: String,
    main_commit: String,
    date: String,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        serde_json::from_str(DATA).expect("data/tuva-versions.json is valid (checked by its tests)")
    })
}

/// The v0.1.0 release: its tree is `main`'s `ff049ef` apart from `VERSION`.
pub const V0_1_0: &str = "v0.1.0";
const V0_1_0_ON_MAIN: &str = "ff049ef3a4f6e8fc0b4b95a9471cb974109b74e6";

/// What one Tuva EMPI version can do, as far as empi-infra deploys it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TuvaVersion {
    /// The table entry whose config schema applies (`v0.1.0` or a `main` commit).
    pub schema_of: String,
    /// Position on `main` (first-parent order); `None`: newer than every commit the table knows.
    pub position: Option<usize>,
    /// Whether the version is a release tag (Tuva's "do not skip versions" rule counts releases).
    pub release: bool,
    /// `process_export_jobs` exists (the worker Deployment runs it).
    pub export_worker: bool,
    /// The Kubernetes matching-job runner and its `k8s_job_runner` config block.
    pub k8s_job_runner: bool,
    /// `k8s_job_runner.job_namespace`: matching jobs may run outside `default`.
    pub job_namespace: bool,
    /// The PostgreSQL extensions its migrations create, which the database-role Job creates first
    /// (the application's role cannot); a version newer than the table also gets those of open
    /// pull requests, ready for the release that brings them.
    pub extensions: Vec<String>,
    /// The newest migration of upstream's `main` app at this version; `None` for a version the
    /// table does not list (its migrations are not known).
    pub last_migration: Option<String>,
    /// Set when the version is not in the table and was taken for the newest known one.
    pub assumed: Option<String>,
}

/// The feature names of the milestones the workloads depend on.
const EXPORT_WORKER: &str = "process_export_jobs";
const K8S_JOB_RUNNER: &str = "k8s_job_runner (";
const JOB_NAMESPACE: &str = "k8s_job_runner.job_namespace";

/// Where (and when) a feature reached `main`, for messages: `main 4b81767 (2025-06-13)`.
pub fn since(feature: &str) -> String {
    let key = match feature {
        "export_worker" => EXPORT_WORKER,
        "k8s_job_runner" => K8S_JOB_RUNNER,
        _ => JOB_NAMESPACE,
    };
    table()
        .milestones
        .iter()
        .find(|m| m.feature.starts_with(key))
        .map(|m| format!("main {} ({})", &m.main_commit[..7], &m.date[..10]))
        .unwrap_or_default()
}

fn position_of(commit: &str) -> Option<usize> {
    table().main_first_parent.iter().position(|(c, _)| c == commit)
}

/// The features of the `main` commit at `pos` (or of the newest known version for `None`).
fn at(pos: Option<usize>, release: bool, assumed: Option<String>) -> TuvaVersion {
    let t = table();
    let has = |key: &str| {
        t.milestones.iter().filter(|m| m.feature.starts_with(key)).any(|m| {
            match (pos, position_of(&m.main_commit)) {
                (None, _) => true,
                (Some(p), Some(q)) => q <= p,
                (Some(_), None) => false,
            }
        })
    };
    let k8s_job_runner = has(K8S_JOB_RUNNER);
    // the validated (pydantic) config came with the k8s runner; before it, v0.1.0's TypedDict
    let schema_of =
        if k8s_job_runner { t.versions.last().unwrap().name.clone() } else { V0_1_0.to_string() };
    let extensions = t
        .migration_extensions
        .iter()
        .filter(|e| match (&e.main_commit, pos) {
            (None, pos) => pos.is_none(),
            (Some(_), None) => true,
            // a commit before the first-parent list (upstream's first) is older than every version
            (Some(c), Some(p)) => position_of(c).is_none_or(|q| q <= p),
        })
        .map(|e| e.extension.clone())
        .collect();
    // known where the position is a table entry's (v0.1.0's tree is main's ff049ef)
    let last_migration = pos
        .and_then(|p| {
            t.versions.iter().find(|e| {
                let main = if e.name == V0_1_0 { V0_1_0_ON_MAIN } else { e.commit.as_str() };
                position_of(main) == Some(p)
            })
        })
        .map(|e| e.last_migration.clone());
    TuvaVersion {
        schema_of,
        position: pos,
        release,
        export_worker: has(EXPORT_WORKER),
        k8s_job_runner,
        job_namespace: has(JOB_NAMESPACE),
        extensions,
        last_migration,
        assumed,
    }
}

fn is_hex(s: &str) -> bool {
    s.len() >= 7
        && s.len() <= 40
        && s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// `vMAJOR.MINOR.PATCH[-suffix]` as numbers.
fn semver(tag: &str) -> Option<(u64, u64, u64)> {
    let core = tag.strip_prefix('v')?.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    let v = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(v)
}

/// What `version` (an image tag: a release tag or a commit SHA) is; an error for a tag the table
/// cannot place.
pub fn classify(version: &str) -> Result<TuvaVersion, String> {
    let t = table();
    let newest = &t.versions.last().unwrap().commit;
    if version == V0_1_0
        || t.versions.first().is_some_and(|v| v.commit.starts_with(version) && is_hex(version))
    {
        return Ok(at(position_of(V0_1_0_ON_MAIN), true, None));
    }
    if is_hex(version) {
        let found: Vec<usize> = t
            .main_first_parent
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| c.starts_with(version))
            .map(|(i, _)| i)
            .collect();
        return Ok(match found.as_slice() {
            [i] => at(Some(*i), false, None),
            _ => at(
                None,
                false,
                Some(format!(
                    "Tuva EMPI {version} is not a commit empi-infra knows; it is taken for the newest known version (main {}), since main images are tagged with the commit pushed",
                    &newest[..7]
                )),
            ),
        });
    }
    match semver(version) {
        Some(v) if v > (0, 1, 0) => Ok(at(
            None,
            true,
            Some(format!(
                "Tuva EMPI {version} is newer than the versions empi-infra knows; it is taken for the newest known version (main {})",
                &newest[..7]
            )),
        )),
        Some(_) => Err(format!("Tuva EMPI {version} is older than the first release empi-infra knows (v0.1.0)")),
        None => Err(format!("{version:?} is neither a Tuva EMPI release tag (v0.1.0) nor a commit SHA of its main branch")),
    }
}

/// How a version change relates to Tuva's upgrade rule: `Err` with the reason when it goes back, or
/// skips a release between the two.
pub fn check_upgrade(
    from: &TuvaVersion,
    from_name: &str,
    to: &TuvaVersion,
    to_name: &str,
    releases: &[(&str, usize)],
) -> Result<(), UpgradeRefusal> {
    let rank = |v: &TuvaVersion| v.position.unwrap_or(usize::MAX);
    let (a, b) = (rank(from), rank(to));
    if b < a {
        return Err(UpgradeRefusal::Downgrade(format!(
            "the plan takes Tuva EMPI from {from_name} back to {to_name}, but its database migrations cannot run backwards"
        )));
    }
    let skipped: Vec<&str> =
        releases.iter().filter(|(_, p)| *p > a && *p < b).map(|(n, _)| *n).collect();
    if !skipped.is_empty() {
        return Err(UpgradeRefusal::Skip(format!(
            "the plan upgrades Tuva EMPI from {from_name} to {to_name}, skipping {}; Tuva's upgrade rule is not to skip versions",
            skipped.join(", ")
        )));
    }
    Ok(())
}

/// The releases the table knows, with their position on `main`.
pub fn releases() -> Vec<(&'static str, usize)> {
    table()
        .versions
        .iter()
        .filter(|v| semver(&v.name).is_some())
        .filter_map(|v| {
            Some((
                v.name.as_str(),
                if v.name == V0_1_0 {
                    position_of(V0_1_0_ON_MAIN)?
                } else {
                    position_of(&v.commit)?
                },
            ))
        })
        .collect()
}

/// Why a version change is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum UpgradeRefusal {
    Downgrade(String),
    Skip(String),
}

/// Checks a config document against the schema upstream's `backend/main/config.py` has for
/// `version`: every problem as `path: what`. Unknown keys pass (upstream ignores them); values
/// not known before apply (references) pass as strings.
pub fn check_config(version: &TuvaVersion, doc: &Value) -> Result<(), Vec<String>> {
    let entry = table()
        .versions
        .iter()
        .find(|v| v.name == version.schema_of)
        .expect("schema_of names an entry");
    let mut errors = vec![];
    check_object(&entry.config_schema, doc, "", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks the config document the stack's specs write against the schema of Tuva EMPI `version`
/// (the stack's `app.version`, which `v` describes), before anything reaches the cluster: one
/// sentence naming every problem.
pub fn check_stack_config(
    v: &TuvaVersion,
    version: &str,
    specs: &[crate::resource::ResourceSpec],
) -> Result<(), String> {
    let Some(doc) = specs
        .iter()
        .find(|s| s.address == "config.document")
        .and_then(|s| s.inputs.get("document"))
    else {
        return Ok(());
    };
    let (doc, _) = doc.resolve_partial(&|_: &str, _: &str| None);
    check_config(v, &doc).map_err(|errors| {
        let entry = table().versions.iter().find(|e| e.name == v.schema_of).map(|e| &e.commit[..7]).unwrap_or_default();
        format!("the config document would be rejected by Tuva EMPI {version} (backend/main/config.py at {entry}): {}", errors.join("; "))
    })
}

fn check_object(
    schema: &serde_json::Map<String, Value>,
    doc: &Value,
    path: &str,
    errors: &mut Vec<String>,
) {
    for (key, spec) in schema {
        let at = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        let note = spec.get("note").and_then(Value::as_str).unwrap_or_default();
        if note.contains("not from the JSON") || spec.get("env").is_some() {
            continue; // set by the image or only through the environment
        }
        let value = doc.get(key).filter(|v| !v.is_null());
        let required = spec.get("required").and_then(Value::as_bool).unwrap_or(false)
            || spec.get("required_when").and_then(Value::as_str).is_some_and(|w| condition(w, doc));
        let Some(value) = value else {
            if required {
                errors.push(format!("{at}: missing"));
            }
            continue;
        };
        let ty = spec.get("type").and_then(Value::as_str).unwrap_or("str");
        let ok = match ty {
            "str" => value.is_string(),
            "bool" => value.is_boolean(),
            "list[str]" => value.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "object" => value.is_object(),
            "enum" => value.is_string(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: expected {ty}, found {value}"));
            continue;
        }
        if let (Some(allowed), Some(s)) =
            (spec.get("enum").and_then(Value::as_array), value.as_str())
        {
            if !allowed.iter().any(|a| a.as_str() == Some(s)) {
                errors.push(format!(
                    "{at}: {s:?} is not one of {}",
                    allowed.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if let Some(keys) = spec.get("keys").and_then(Value::as_object) {
            check_object(keys, value, &at, errors);
        }
    }
}

/// A `required_when` of the table: `backend == x`, `job_runner == x`, or a mode that always runs
/// (bootstrap, the API); conditions on `sys.argv` concern the environment, not the file.
fn condition(when: &str, doc: &Value) -> bool {
    for field in ["backend", "job_runner"] {
        if let Some(rest) = when.strip_prefix(&format!("{field} == ")) {
            let expected = rest.split_whitespace().next().unwrap_or_default();
            return doc.get(field).and_then(Value::as_str) == Some(expected);
        }
    }
    !when.contains("sys.argv")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_loads_and_places_each_known_version() {
        let v = classify("v0.1.0").unwrap();
        assert!(
            !v.export_worker
                && !v.k8s_job_runner
                && !v.job_namespace
                && v.release
                && v.assumed.is_none()
        );
        assert_eq!(v.schema_of, "v0.1.0");
        let head = classify("301608c7ac2f5fc422ec210cd5613a0496d468ba").unwrap();
        assert!(
            head.export_worker
                && head.k8s_job_runner
                && head.job_namespace
                && head.assumed.is_none()
        );
        // between the k8s runner (4b81767) and process_export_jobs (6ab8594)
        let mid = classify("f88e27e").unwrap();
        assert!(mid.k8s_job_runner && !mid.export_worker && !mid.job_namespace, "{mid:?}");
        // before job_namespace (a4eff24)
        let before = classify("1ec0df7").unwrap();
        assert!(before.export_worker && !before.job_namespace);
        assert!(classify("a4eff24").unwrap().job_namespace);
        let unknown = classify("0123456789abcdef0123456789abcdef01234567").unwrap();
        assert!(unknown.assumed.unwrap().contains("newest known"));
        assert!(unknown.job_namespace);
        assert!(classify("v0.3.1").unwrap().assumed.is_some());
        assert!(classify("v0.0.9").unwrap_err().contains("older than the first release"));
        assert!(classify("latest").unwrap_err().contains("neither a Tuva EMPI release tag"));
        assert_eq!(since("k8s_job_runner"), "main 4b81767 (2025-06-13)");
        assert_eq!(since("job_namespace"), "main a4eff24 (2025-11-25)");
    }

    #[test]
    fn each_version_gets_the_extensions_its_migrations_create() {
        let known = ["pgcrypto", "pg_trgm"];
        assert_eq!(classify(V0_1_0).unwrap().extensions, known);
        assert_eq!(classify("301608c").unwrap().extensions, known);
        // an unknown commit (PR #113's head, or main after it merged) is newer than the table:
        // unaccent, which 0015_enable_unaccent_extension creates, is made for it
        let newer = classify("4abdf6bc1c853dc197424a05d9dc96f601eb9709").unwrap();
        assert_eq!(newer.extensions, ["pgcrypto", "pg_trgm", "unaccent"]);
        // the newest migration a copy of the database must have, where the table knows it
        assert_eq!(
            classify(V0_1_0).unwrap().last_migration.as_deref(),
            Some("0007_remove_personrecord_main_person_sha256_2ea0dc_idx_and_more")
        );
        assert_eq!(
            classify("301608c").unwrap().last_migration.as_deref(),
            Some("0014_allow_null_text_fields")
        );
        assert_eq!(newer.last_migration, None);
        let pending: Vec<_> =
            migration_extensions().iter().filter(|e| e.main_commit.is_none()).collect();
        assert!(pending.iter().all(|e| e.pull_request.is_some()), "{pending:?}");
    }

    #[test]
    fn downgrades_and_skipped_releases_are_refused() {
        let v1 = classify("v0.1.0").unwrap();
        let head = classify("301608c").unwrap();
        assert_eq!(check_upgrade(&v1, "v0.1.0", &head, "301608c", &releases()), Ok(()));
        assert!(
            matches!(check_upgrade(&head, "301608c", &v1, "v0.1.0", &releases()), Err(UpgradeRefusal::Downgrade(m)) if m.contains("cannot run backwards"))
        );
        // a release between the two (a table with more releases than upstream has today)
        let r = check_upgrade(&v1, "v0.1.0", &head, "301608c", &[("v0.1.0", 0), ("v0.2.0", 5)]);
        assert!(matches!(r, Err(UpgradeRefusal::Skip(m)) if m.contains("skipping v0.2.0")));
    }

    #[test]
    fn a_config_is_checked_against_its_versions_schema() {
        let head = classify("301608c").unwrap();
        let mut doc = json!({
            "env": "prod",
            "db": {"user": "u", "password": "p", "name": "n", "host": "h", "port": "5432"},
            "django": {"debug": false, "secret_key": "k", "allowed_hosts": ["a"], "cors_allowed_origins": []},
            "idp": {"backend": "aws-cognito", "aws_cognito": {"cognito_user_pool_id": "p", "jwt_header": "h", "jwks_url": "j", "client_id": "c"}},
            "initial_setup": {"admin_email": "a@b.org"},
            "matching_service": {"job_runner": "process"},
        });
        assert_eq!(check_config(&head, &doc), Ok(()));
        doc["db"]["port"] = json!(5432);
        doc["matching_service"] = json!({"job_runner": "k8s", "k8s_job_runner": {}});
        let errors = check_config(&head, &doc).unwrap_err();
        assert!(errors.contains(&"db.port: expected str, found 5432".to_string()), "{errors:?}");
        assert!(
            errors.contains(
                &"matching_service.k8s_job_runner.job_image_pull_policy: missing".to_string()
            ),
            "{errors:?}"
        );
        // v0.1.0 reads no matching_service block and does not require django.debug
        let v1 = classify("v0.1.0").unwrap();
        doc["db"]["port"] = json!("5432");
        doc.as_object_mut().unwrap().remove("matching_service");
        doc["django"].as_object_mut().unwrap().remove("debug");
        assert_eq!(check_config(&v1, &doc), Ok(()));
        assert!(check_config(&head, &doc).is_err());
    }
}
