//! `[drift]`: what scheduled drift detection does not report.

use super::*;

/// Scheduled drift detection (docs/DRIFT.md).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Drift")]
pub(super) struct RawDrift {
    /// Addresses (`cluster.nodes`) or address.attribute paths
    /// (`workloads.frontend.manifest.spec.replicas`) that `drift` does not report. Default: none.
    #[schemars(with = "Option<Vec<String>>", extend("default" = []))]
    ignore: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct DriftConfig {
    pub ignore: Vec<String>,
}

impl Validator<'_> {
    pub(super) fn drift(&mut self, raw: Option<S<RawDrift>>) -> DriftConfig {
        DriftConfig {
            ignore: raw
                .and_then(|d| d.into_inner().ignore)
                .map(|l| l.into_inner().into_iter().map(|s| s.into_inner()).collect())
                .unwrap_or_default(),
        }
    }
}
