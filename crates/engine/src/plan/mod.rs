//! The plan types: what apply will do to each resource, bound to the state it was made from.
//!
//! The step generator lives in the submodules: `refresh` reads what state records (in
//! parallel), `diff` compares the stack's desired resources with it attribute by attribute and
//! decides create / update / replace / delete / no-op, `estimate` predicts how long applying
//! takes, `cost` prices it (before and after, from `prices.toml`), and `render` prints plans as text and as the versioned JSON of `docs/PLAN-JSON.md`;
//! `markdown` as a pull-request comment; `terraform` writes them as Terraform's plan
//! representation, for policy tools.
//! Everything is re-exported here, so callers use `crate::plan::X`.

mod adopt;
pub mod cost;
mod diff;
mod estimate;
mod markdown;
mod refresh;
mod render;
pub mod terraform;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use serde_json::Value;

use crate::resource::{Attrs, Observed, ProviderError, ResourceSpec};

pub use adopt::{adopt, resolved_inputs, Adoption};
pub use diff::{deposed_address, deposed_fact, destroy_plan, diff, leaves, normalize};
pub use estimate::{duration_fact, estimate, format_duration};
pub use markdown::{marker, render_markdown, render_markdown_within, COMMENT_MAX};
pub use refresh::{recorded, refresh, FIND_AGAIN_AFTER};
pub use render::{render_json, render_text, render_text_with, show, RenderOptions};
pub use terraform::render_terraform;

/// How the security baseline's plan warning begins (`crate::check` writes it; the markdown
/// comment lists the failing rules instead).
pub const BASELINE_WARNING_START: &str = "the security baseline fails";

/// Version of the plan file and of `plan --json`.
pub const PLAN_FORMAT_VERSION: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One attribute's change. Parts of `after` not known before apply hold the `resource::UNKNOWN`
/// marker, and `after_unknown` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    #[serde(default)]
    pub after_unknown: bool,
    #[serde(default)]
    pub forces_replacement: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub kind: String,
    pub action: Action,
    pub attributes: Vec<AttrChange>,
    /// Why, when it is not plain (an interrupted create found again, deleted outside empi-infra…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The resource holds data a replacement or delete would lose.
    #[serde(default)]
    pub stateful: bool,
    /// What to apply (create, update, replace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ResourceSpec>,
    /// A replacement that creates the new object before it deletes the old one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
    /// The cloud id the change acts on (update, replace, delete), or an interrupted create's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The whole object before and after, for renderings that show every attribute (Terraform's
    /// plan JSON); `attributes` holds only what changes.
    #[serde(default, skip_serializing_if = "Objects::is_empty")]
    pub objects: Objects,
}

/// The whole object a change acts on: what renderings that show every attribute need besides the
/// spec. Values are those state holds (secrets only as `resource::SENSITIVE`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Objects {
    /// The deterministic cloud name.
    #[serde(default)]
    pub name: String,
    /// Every recorded input before the change (`None` for a create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Attrs>,
    /// The outputs of the object before the change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub before_outputs: Attrs,
    /// The outputs known at plan time after the change (`None`: known after apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Attrs>,
}

impl Objects {
    pub fn is_empty(&self) -> bool {
        *self == Objects::default()
    }
}

/// A plan: what apply will do, bound to the state it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub stack: String,
    pub lineage: String,
    pub serial: u64,
    pub stack_digest: String,
    pub destroy: bool,
    pub changes: Vec<ResourceChange>,
    /// What the user should know before applying (a Kubernetes version in extended support…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Facts apply records in state before anything else (the availability zones chosen…).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, Value>,
    /// How long applying it should take, from past applies (or AWS-typical figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
    /// The `--target`s of a partial plan (empty: the whole stack). A targeted plan holds only the
    /// targets and what they depend on (a destroy: what depends on them); a full plan should follow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// What the stack costs a month before and after the plan (AWS list prices, `crate::cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<cost::Cost>,
    /// What a reviewer must not miss that the changes alone do not say.
    #[serde(default, skip_serializing_if = "Review::is_empty")]
    pub review: Review,
    /// sha256 of the plan file's content without this field (`plan --out` writes it; `show` and
    /// `apply` refuse a file whose content no longer matches it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// What a reviewer must not miss beyond the changes themselves; the markdown comment leads with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// Tuva EMPI's version before and after, when the plan changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<(String, String)>,
    /// The security baseline's rules the planned values fail (`rule on resource`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_checks: Vec<String>,
}

impl Review {
    pub fn is_empty(&self) -> bool {
        *self == Review::default()
    }
}

/// The expected apply time: the longest chain of dependent changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub seconds: f64,
    /// (address, seconds) along the critical path, first to last.
    pub critical_path: Vec<(String, f64)>,
    /// How many of the durations come from this stack's own past applies.
    pub measured: usize,
}

impl Plan {
    /// The sha256 of the plan's content, its `digest` field left out.
    pub fn content_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut copy = self.clone();
        copy.digest = None;
        hex::encode(Sha256::digest(serde_json::to_vec(&copy).expect("a plan serialises")))
    }

    /// The plan with its digest set, as `plan --out` saves it.
    pub fn sealed(mut self) -> Plan {
        self.digest = Some(self.content_digest());
        self
    }

    /// Whether the plan's content matches the digest it carries (a plan without one does not).
    pub fn digest_matches(&self) -> bool {
        self.digest.as_deref() == Some(self.content_digest().as_str())
    }

    /// Whether `--target` limited the plan to part of the stack.
    pub fn is_targeted(&self) -> bool {
        !self.targets.is_empty()
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    pub fn count(&self, a: Action) -> usize {
        self.changes.iter().filter(|c| c.action == a).count()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} to add, {} to change, {} to replace, {} to destroy",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Replace),
            self.count(Action::Delete)
        )
    }
}

/// What a refresh found for one recorded resource.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The id: recorded, or found again for an interrupted create.
    pub id: Option<String>,
    /// `None` when the object does not exist.
    pub observed: Option<Observed>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("state records {address} of type {kind}, which this empi-infra does not know; use the release that created it")]
    UnknownKind { address: String, kind: String },
    #[error("reading {address} failed: {source}")]
    Read { address: String, source: ProviderError },
    /// The object found for (or recorded at) an address is not provably this stack's
    /// (`crate::ownership`): it is never adopted, changed or deleted.
    #[error(transparent)]
    NotOurs(#[from] crate::ownership::NotOurs),
}

/// A plan of `changes` for the plan modules' own tests, bound to nothing.
#[cfg(test)]
pub(crate) fn test_plan(changes: Vec<ResourceChange>) -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION.into(),
        stack: "s".into(),
        lineage: "l".into(),
        serial: 1,
        stack_digest: "d".into(),
        destroy: false,
        changes,
        warnings: vec![],
        facts: BTreeMap::new(),
        estimate: None,
        targets: vec![],
        cost: None,
        review: Review::default(),
        digest: None,
    }
}
