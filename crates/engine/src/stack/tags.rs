//! `[tags]`: the stack's own tags, and the tags empi-infra adds to every resource it makes.

use super::*;

/// AWS's limit of tags on one resource (EC2, RDS, IAM, ELB, Secrets Manager, Cognito alike).
pub const MAX_TAGS: usize = 50;

/// The tags empi-infra puts on every resource itself (`Stack::resource_tags`).
pub const OWN_TAGS: &[&str] = &["Name", TAG_STACK, TAG_REGION, TAG_ADDRESS];

/// Whether AWS accepts `c` in a tag key or value: letters, digits, spaces and `_ . : / = + - @`
/// (the pattern `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$` of the tagging APIs).
pub(super) fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

/// Tag naming the stack that owns a resource.
pub const TAG_STACK: &str = "empi-infra:stack";

/// Tag naming the region of the stack that owns a resource: with the stack's name, its identity
/// (IAM roles and bucket names are global: a same-named stack in another region must not take them).
pub const TAG_REGION: &str = "empi-infra:region";

/// Tag naming the resource address, so a resource is found again after a crash.
pub const TAG_ADDRESS: &str = "empi-infra:address";

impl Validator<'_> {
    /// The stack's own tags, within AWS's limits once empi-infra adds its own to each resource.
    pub(super) fn tags(&mut self, raw: BTreeMap<String, S<String>>) -> BTreeMap<String, String> {
        let allowed = MAX_TAGS - OWN_TAGS.len();
        let mut tags = BTreeMap::new();
        for (i, (k, v)) in raw.into_iter().enumerate() {
            if i == allowed {
                self.err(
                    &v,
                    format!(
                        "[tags] has more than {allowed} tags: with the {} empi-infra adds to every resource ({}) that is more than the {MAX_TAGS} AWS allows per resource",
                        OWN_TAGS.len(),
                        OWN_TAGS.join(", ")
                    ),
                    format!("keep at most {allowed} tags in [tags]"),
                );
            }
            // IAM tag keys are case-insensitive (`EMPI-INFRA:stack` is `empi-infra:stack` there), and
            // AWS reserves `aws:` in any case
            let lower = k.to_ascii_lowercase();
            if OWN_TAGS.iter().any(|t| t.eq_ignore_ascii_case(&k))
                || lower.starts_with("aws:")
                || lower.starts_with("empi-infra:")
            {
                self.err(
                    &v,
                    format!("tag key {k:?} is reserved"),
                    "empi-infra sets Name and empi-infra:* on every resource, and AWS reserves aws:* (tag keys compare without case in IAM); choose another key",
                );
            } else if k.is_empty() || k.chars().count() > 128 || !k.chars().all(tag_char) {
                self.err(
                    &v,
                    format!("tag key {k:?} is not one AWS accepts"),
                    "tag keys are 1-128 characters of letters, digits, spaces and _ . : / = + - @",
                );
            } else if v.get_ref().chars().count() > 256 || !v.get_ref().chars().all(tag_char) {
                self.err(
                    &v,
                    format!("tag {k:?} has a value AWS does not accept"),
                    "tag values are at most 256 characters of letters, digits, spaces and _ . : / = + - @",
                );
            }
            tags.insert(k, v.into_inner());
        }
        tags
    }
}

/// `[tags]`: AWS's limits, less the prefixes AWS and empi-infra reserve.
pub(super) fn schema_tags(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "minLength": 1, "maxLength": 128, "not": { "pattern": "^(aws:|empi-infra:)" } },
        "additionalProperties": { "type": "string", "maxLength": 256 },
        "default": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::tests::*;

    #[test]
    fn finding_6_more_tags_than_aws_allows_are_refused() {
        let tags: String = (0..60).map(|i| format!("t{i:02} = \"v\"\n")).collect();
        let e = err(&format!("{MINIMAL}[tags]\n{tags}"));
        assert!(
            e.message.contains("more than 46 tags") && e.message.contains("50 AWS allows"),
            "{e}"
        );
        let tags: String = (0..46).map(|i| format!("t{i:02} = \"v\"\n")).collect();
        assert!(
            Stack::parse("s.toml", &format!("{MINIMAL}[tags]\n{tags}")).is_ok(),
            "46 tags + 4 of empi-infra's = 50"
        );
    }

    #[test]
    fn finding_6_tag_keys_and_values_with_characters_aws_refuses_are_refused() {
        for bad in [
            "\"cost#center\" = \"x\"",
            "\"a!b\" = \"x\"",
            "ok = \"semi;colon\"",
            "Name = \"x\"",
            "\"AWS:x\" = \"y\"",
        ] {
            let e = err(&format!("{MINIMAL}[tags]\n{bad}\n"));
            assert!(e.message.contains("tag"), "{bad}: {e}");
            assert_eq!(e.line, 9, "{bad}: {e}");
        }
        assert!(Stack::parse(
            "s.toml",
            &format!("{MINIMAL}[tags]\n\"cost-center/team\" = \"Data Eng @ HQ: 42+1=_.\"\n")
        )
        .is_ok());
    }

    #[test]
    fn issue_24_reserved_tag_keys_are_refused_in_any_case() {
        for key in [
            "EMPI-INFRA:stack",
            "Empi-Infra:address",
            "empi-infra:owner",
            "Aws:cost",
            "AWS:x",
            "name",
            "NAME",
        ] {
            let e = err(&format!("{MINIMAL}[tags]\n\"{key}\" = \"x\"\n"));
            assert_eq!(e.message, format!("tag key {key:?} is reserved"));
            assert!(
                e.help.as_deref().unwrap().contains("tag keys compare without case in IAM"),
                "{e}"
            );
            assert_eq!(e.line, 9, "{e}");
        }
        assert!(Stack::parse(
            "s.toml",
            &format!("{MINIMAL}[tags]\n\"empi-infra-owner\" = \"x\"\n\"awsome\" = \"y\"\n")
        )
        .is_ok());
    }
}
