//! `[timeouts.<kind>]`: deadlines replacing a kind's default ones.

use super::*;

/// Deadlines of one resource kind's operations, waits included. Each is a duration such as
/// "90m", "45s" or "1h 30m", from 10s to 24h; a key left out keeps the kind's default.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Timeouts")]
pub(super) struct RawTimeouts {
    /// How long creating one resource of the kind may take (a duration, 10s to 24h).
    #[schemars(with = "Option<String>")]
    create: Option<S<String>>,
    /// How long updating one resource of the kind may take (a duration, 10s to 24h).
    #[schemars(with = "Option<String>")]
    update: Option<S<String>>,
    /// How long deleting one resource of the kind may take (a duration, 10s to 24h).
    #[schemars(with = "Option<String>")]
    delete: Option<S<String>>,
}

impl Validator<'_> {
    pub(super) fn timeouts(
        &mut self,
        raw: BTreeMap<String, S<RawTimeouts>>,
    ) -> BTreeMap<String, crate::resource::Timeouts> {
        let mut out = BTreeMap::new();
        for (kind, t) in raw {
            let Some(schema) = crate::kinds::schema(&kind) else {
                self.err(
                    &t,
                    format!("[timeouts.{kind}]: there is no resource kind {kind:?}"),
                    "use a kind from docs/generated/KINDS.md, e.g. [timeouts.aws_eks_cluster]",
                );
                continue;
            };
            let t = t.into_inner();
            let mut one = |v: &Option<S<String>>, key: &str, default: u32| match v {
                Some(v) => self.duration(v, key, 10, 24 * 3600),
                None => default,
            };
            let d = schema.timeouts;
            let create = one(&t.create, "create", d.create);
            let update = one(&t.update, "update", d.update);
            let delete = one(&t.delete, "delete", d.delete);
            out.insert(kind, crate::resource::Timeouts { create, update, delete });
        }
        out
    }
}
