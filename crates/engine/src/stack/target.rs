//! `[target]`: the endpoints of a non-AWS target, such as the local cloud.

use super::*;

/// Endpoints of a non-AWS target, such as the local cloud; environment variables win over them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Target")]
pub(super) struct RawTarget {
    /// An http:// or https:// AWS endpoint for every service, e.g. "http://127.0.0.1:4566";
    /// `AWS_ENDPOINT_URL` wins over it. Default: AWS itself.
    #[schemars(with = "Option<String>", pattern(r"^https?://"))]
    aws_endpoint_url: Option<S<String>>,
    /// A kubeconfig file to reach the cluster with, instead of the EKS endpoint;
    /// `EMPI_INFRA_KUBECONFIG` wins over it. Default: the EKS cluster itself.
    #[schemars(with = "Option<String>")]
    kubeconfig: Option<S<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TargetConfig {
    pub aws_endpoint_url: Option<String>,
    pub kubeconfig: Option<String>,
}

impl Validator<'_> {
    pub(super) fn target(&mut self, raw: Option<S<RawTarget>>) -> TargetConfig {
        let Some(t) = raw else { return TargetConfig::default() };
        let t = t.into_inner();
        if let Some(u) = &t.aws_endpoint_url {
            if !(u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://")) {
                self.err(
                    u,
                    "`aws_endpoint_url` must be an http:// or https:// URL",
                    "e.g. aws_endpoint_url = \"http://127.0.0.1:4566\"",
                );
            }
        }
        TargetConfig {
            aws_endpoint_url: t.aws_endpoint_url.map(|s| s.into_inner()),
            kubeconfig: t.kubeconfig.map(|s| s.into_inner()),
        }
    }
}
