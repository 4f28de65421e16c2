//! Ownership: whether an object found in the cloud is provably this stack's.
//!
//! An object is this stack's when its tags say so: `empi-infra:stack` names this stack and
//! `empi-infra:region` its region (IAM roles and S3 bucket names are global, so a same-named stack
//! in another region finds the first one's under the same names; the region tells them apart).
//! - An object that state does not record (found for adoption, found again for an interrupted
//!   create, found before a create) must carry both tags: nothing is adopted by name alone.
//! - An object that state records is this stack's unless its tags name another stack or region
//!   (objects made before the region tag carry only the stack tag; the next apply adds it).
//! - A kind AWS does not tag (an association, a listener, a secret's value) is found only inside
//!   its parent (a route table, a load balancer, a secret), whose ownership was proven first.
//!
//! `state import` is the explicit way to take over an object that is not provably ours.

use serde_json::Value;

use crate::resource::{Attrs, Observed, Schema};
use crate::stack::{TAG_REGION, TAG_STACK};

/// Why an object is not this stack's. Each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOurs {
    #[error(
        "{address}: {id} belongs to stack {owner:?}{where_}, not to this stack {stack:?}{here} (its tags say so); empi-infra never adopts, changes or deletes another stack's objects. {fix}",
        where_ = if owner_region != region { in_region(owner_region) } else { String::new() },
        here = in_region(region)
    )]
    AnotherStack {
        address: String,
        id: String,
        owner: String,
        owner_region: Option<String>,
        stack: String,
        region: Option<String>,
        fix: &'static str,
    },
    #[error(
        "{address}: {id} was found by its name, but it does not carry the tags that prove it is this stack's ({TAG_STACK} = {stack:?}{region_tag}); empi-infra adopts nothing by name alone. If it is this stack's (made by hand, or by an empi-infra before these tags), take it over explicitly with `empi-infra state import {address} {id}`; otherwise delete or rename it, or give this stack another name",
        region_tag = region.as_ref().map(|r| format!(", {TAG_REGION} = {r:?}")).unwrap_or_default()
    )]
    Unproven { address: String, id: String, stack: String, region: Option<String> },
}

fn in_region(r: &Option<String>) -> String {
    r.as_ref().map(|r| format!(" in region {r}")).unwrap_or_default()
}

impl NotOurs {
    pub fn address(&self) -> &str {
        match self {
            NotOurs::AnotherStack { address, .. } | NotOurs::Unproven { address, .. } => address,
        }
    }
}

/// What to do about another stack's object found by this stack's name.
pub const FOUND_FIX: &str =
    "Give one of the two stacks another name, or destroy that object with its own stack first.";

/// What to do about a recorded id whose object is another stack's.
pub const RECORDED_FIX: &str =
    "This state was not written for this stack's objects (copied from another stack or region?): move it away and run `empi-infra state rebuild`.";

/// How the object was come to: its id recorded in state, found by name for an interrupted create
/// whose intent state records, or found by name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Recorded,
    /// State recorded the intent to create it right before the create call, made only after a look
    /// found nothing under the name: an object under the name without tags is that create's (some
    /// kinds are tagged by a second call, which a crash can cut off: an S3 bucket). One tagged for
    /// another stack or region is not.
    Intent,
    ByName,
}

/// Whether the kind carries tags (and so can prove whose it is).
pub fn taggable(schema: &Schema) -> bool {
    schema.attrs.iter().any(|a| a.name == "tags")
}

/// The ownership tags `inputs` (a spec's resolved inputs, or what state recorded) expect: the
/// stack, and the region where they carry it.
pub fn expected_region(inputs: &Attrs) -> Option<String> {
    inputs.get("tags").and_then(|t| t.get(TAG_REGION)).and_then(Value::as_str).map(String::from)
}

/// Checks that `observed` (the object `id` at `address`) is this stack's: see the module's rules.
/// `region` is the region the stack's own tags name (none for a state written before the tag).
pub fn check(
    schema: &Schema,
    stack: &str,
    region: Option<&str>,
    address: &str,
    id: &str,
    observed: &Observed,
    found: Found,
    fix: &'static str,
) -> Result<(), NotOurs> {
    if !taggable(schema) {
        return Ok(());
    }
    let tags = observed.attrs.get("tags");
    let tag = |k: &str| tags.and_then(|t| t.get(k)).and_then(Value::as_str);
    let (owner, owner_region) = (tag(TAG_STACK), tag(TAG_REGION));
    let another = |owner: &str| NotOurs::AnotherStack {
        address: address.into(),
        id: id.into(),
        owner: owner.into(),
        owner_region: owner_region.map(String::from),
        stack: stack.into(),
        region: region.map(String::from),
        fix,
    };
    if let Some(o) = owner.filter(|o| *o != stack) {
        return Err(another(o));
    }
    if let (Some(want), Some(got)) = (region, owner_region) {
        if want != got {
            return Err(another(owner.unwrap_or(stack)));
        }
    }
    let proven = owner == Some(stack) && (region.is_none() || owner_region == region);
    if found == Found::ByName && !proven {
        return Err(NotOurs::Unproven {
            address: address.into(),
            id: id.into(),
            stack: stack.into(),
            region: region.map(String::from),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{AttrSchema, Ty};
    use serde_json::json;

    static TAGGED: Schema = Schema::new("t", &[AttrSchema::new("tags", Ty::Any)], &[]);
    static UNTAGGED: Schema = Schema::new("u", &[AttrSchema::new("value", Ty::Any)], &[]);

    fn with_tags(tags: Value) -> Observed {
        Observed {
            attrs: [("tags".to_string(), tags)].into_iter().collect(),
            outputs: Attrs::new(),
        }
    }

    fn run(tags: Value, region: Option<&str>, found: Found) -> Result<(), NotOurs> {
        check(
            &TAGGED,
            "s",
            region,
            "iam.cluster_role",
            "s-eks-cluster",
            &with_tags(tags),
            found,
            FOUND_FIX,
        )
    }

    #[test]
    fn an_untagged_look_alike_is_never_adopted_by_name_and_the_error_names_state_import() {
        let e = run(json!({}), Some("us-east-1"), Found::ByName).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("iam.cluster_role: s-eks-cluster was found by its name"), "{text}");
        assert!(text.contains("empi-infra state import iam.cluster_role s-eks-cluster"), "{text}");
        // the stack tag alone is not proof either: the region is part of the identity
        assert!(run(json!({TAG_STACK: "s"}), Some("us-east-1"), Found::ByName).is_err());
        assert_eq!(
            run(json!({TAG_STACK: "s", TAG_REGION: "us-east-1"}), Some("us-east-1"), Found::ByName),
            Ok(())
        );
    }

    #[test]
    fn a_same_named_stack_in_another_region_is_another_stack() {
        let e =
            run(json!({TAG_STACK: "s", TAG_REGION: "us-east-1"}), Some("eu-west-1"), Found::ByName)
                .unwrap_err();
        assert!(matches!(e, NotOurs::AnotherStack { .. }), "{e}");
        assert!(e.to_string().contains("belongs to stack \"s\" in region us-east-1, not to this stack \"s\" in region eu-west-1"), "{e}");
        // recorded or not
        assert!(run(
            json!({TAG_STACK: "s", TAG_REGION: "us-east-1"}),
            Some("eu-west-1"),
            Found::Recorded
        )
        .is_err());
    }

    #[test]
    fn a_recorded_object_from_before_the_region_tag_stays_ours_and_another_stacks_never_is() {
        assert_eq!(run(json!({TAG_STACK: "s"}), Some("us-east-1"), Found::Recorded), Ok(()));
        assert_eq!(run(json!({}), None, Found::Recorded), Ok(()));
        let e = run(json!({TAG_STACK: "other"}), None, Found::Recorded).unwrap_err();
        assert!(e.to_string().contains("belongs to stack \"other\""), "{e}");
    }

    #[test]
    fn an_interrupted_creates_untagged_object_is_its_own_but_another_stacks_never_is() {
        assert_eq!(run(json!({}), Some("us-east-1"), Found::Intent), Ok(()));
        assert!(run(json!({TAG_STACK: "other"}), Some("us-east-1"), Found::Intent).is_err());
        assert!(run(
            json!({TAG_STACK: "s", TAG_REGION: "eu-west-1"}),
            Some("us-east-1"),
            Found::Intent
        )
        .is_err());
    }

    #[test]
    fn a_kind_without_tags_is_judged_by_its_parent() {
        let o = Observed { attrs: Attrs::new(), outputs: Attrs::new() };
        assert_eq!(
            check(&UNTAGGED, "s", Some("r"), "a", "i", &o, Found::ByName, FOUND_FIX),
            Ok(())
        );
    }
}
