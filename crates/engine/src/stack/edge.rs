//! `[edge]`: the internet-facing ALB's protection.

use super::*;

/// `waf` when the stack says nothing.
const DEFAULT_WAF: bool = true;

/// The internet-facing ALB's protection.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Edge")]
pub(super) struct RawEdge {
    /// A WAF web ACL with AWS's managed common rule set in front of the ALB.
    #[schemars(with = "Option<bool>", extend("default" = DEFAULT_WAF))]
    waf: Option<S<bool>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EdgeConfig {
    pub waf: bool,
}

impl Validator<'_> {
    pub(super) fn edge(&mut self, raw: Option<S<RawEdge>>) -> EdgeConfig {
        EdgeConfig {
            waf: raw
                .and_then(|e| e.into_inner().waf)
                .map(|w| w.into_inner())
                .unwrap_or(DEFAULT_WAF),
        }
    }
}
