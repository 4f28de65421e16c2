//! `[app]`: the Tuva EMPI application: its version, host name, certificate, namespace, replicas and
//! matching-job runner.

use super::*;

/// `health_proxy_image` when the stack names none: nginx's own unprivileged image on ECR Public
/// (no Docker Hub pull limits on the nodes), a pinned release.
pub const DEFAULT_HEALTH_PROXY_IMAGE: &str =
    "public.ecr.aws/nginx/nginx-unprivileged:1.30.5-alpine-slim";

/// `namespace` when the stack names none.
pub const DEFAULT_NAMESPACE: &str = "tuva-empi";
/// `matching_job_runner` when the stack names none: upstream's own default.
const DEFAULT_RUNNER: &str = "process";
/// `rollout_timeout` when the stack names none.
const DEFAULT_ROLLOUT_TIMEOUT: &str = "10m";

/// `api_replicas`: its default and range (the schema and the validator read them here).
const API_REPLICAS: Int = Int { key: "api_replicas", default: 2, min: 1, max: 100 };
/// `frontend_replicas`: its default and range (the schema and the validator read them here).
const FRONTEND_REPLICAS: Int = Int { key: "frontend_replicas", default: 2, min: 1, max: 100 };
/// `matching_service_replicas`: its default and range (the schema and the validator read them here).
const MATCHING_SERVICE_REPLICAS: Int =
    Int { key: "matching_service_replicas", default: 1, min: 1, max: 10 };

/// The Tuva EMPI application on the cluster, behind the ALB.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "App")]
pub(super) struct RawApp {
    /// The image tag of both Tuva EMPI images: a release tag ("v0.1.0") or the commit SHA of a main
    /// image. It decides the workloads and config (docs/TUVA.md); `plan` refuses a downgrade or a
    /// skipped release unless told.
    #[schemars(with = "Option<String>", extend("default" = crate::tuva::V0_1_0))]
    version: Option<S<String>>,
    /// The Kubernetes namespace of the workloads: a-z, 0-9 and '-', at most 63 characters.
    ///
    #[schemars(with = "Option<String>", pattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"), extend("default" = DEFAULT_NAMESPACE))]
    namespace: Option<S<String>>,
    /// The DNS name users open, e.g. "empi.example.org". Required.
    #[schemars(with = "String")]
    hostname: S<String>,
    /// The ARN of the ACM certificate for `hostname`, in the stack's region:
    /// arn:aws:acm:<region>:<account>:certificate/<id>. Required.
    #[schemars(with = "String")]
    certificate_arn: S<String>,
    /// Replicas of the api Deployment.
    #[schemars(with = "Option<i64>", range(min = API_REPLICAS.min, max = API_REPLICAS.max), extend("default" = API_REPLICAS.default))]
    api_replicas: Option<S<i64>>,
    /// Replicas of the frontend Deployment.
    #[schemars(with = "Option<i64>", range(min = FRONTEND_REPLICAS.min, max = FRONTEND_REPLICAS.max), extend("default" = FRONTEND_REPLICAS.default))]
    frontend_replicas: Option<S<i64>>,
    /// Replicas of the matching-service Deployment. Upstream's matching service runs one job at a
    /// time under a database advisory lock, so a second replica waits and takes over when the
    /// first stops (on a node's replacement, say).
    #[schemars(with = "Option<i64>", range(min = MATCHING_SERVICE_REPLICAS.min, max = MATCHING_SERVICE_REPLICAS.max), extend("default" = MATCHING_SERVICE_REPLICAS.default))]
    matching_service_replicas: Option<S<i64>>,
    /// Where matching jobs run: "process" (inside the matching service) or "k8s" (as Kubernetes
    /// Jobs; needs a version with upstream's Kubernetes job runner).
    #[schemars(with = "Option<String>", extend("enum" = ["process", "k8s"], "default" = DEFAULT_RUNNER))]
    matching_job_runner: Option<S<String>>,
    /// With `matching_job_runner = "k8s"`: the namespace the jobs run in. Default: the app's
    /// namespace where the version supports it, else "default".
    #[schemars(with = "Option<String>")]
    matching_job_namespace: Option<S<String>>,
    /// How long a Deployment rollout or Job may make no progress before the apply fails (a
    /// duration, 30s to 6h, e.g. "10m" or "1h 30m").
    #[schemars(with = "Option<String>", extend("default" = DEFAULT_ROLLOUT_TIMEOUT))]
    rollout_timeout: Option<S<String>>,
    /// The image of the api's health proxy (an unprivileged nginx that runs as UID 101), e.g. a
    /// copy in your own registry when nodes may pull only from it: repository and tag (or digest).
    #[schemars(with = "Option<String>", length(min = 1), extend("default" = DEFAULT_HEALTH_PROXY_IMAGE))]
    health_proxy_image: Option<S<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppConfig {
    pub version: String,
    pub namespace: String,
    pub hostname: String,
    pub certificate_arn: String,
    pub api_replicas: u32,
    pub frontend_replicas: u32,
    pub matching_service_replicas: u32,
    pub matching_job_runner: String,
    /// Where the k8s runner's matching jobs run (only used with `matching_job_runner = "k8s"`).
    pub matching_job_namespace: String,
    /// How long a rollout or job may make no progress before the apply fails.
    pub rollout_timeout_secs: u32,
    /// What the Tuva EMPI version can do (`crate::tuva`).
    pub tuva: crate::tuva::TuvaVersion,
    /// The api health proxy's image.
    pub health_proxy_image: String,
}

/// Namespaces Kubernetes itself keeps. empi-infra deletes its namespaces on `destroy`, with all
/// they hold: never one of these.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["kube-system", "kube-public", "kube-node-lease", "default"];

impl Validator<'_> {
    pub(super) fn app(&mut self, raw: S<RawApp>, region: &str) -> AppConfig {
        let raw = raw.into_inner();
        let (version, vs) = self.string(raw.version, crate::tuva::V0_1_0);
        let tuva = match crate::tuva::classify(&version) {
            Ok(t) => t,
            Err(why) => {
                if let Some(s) = &vs {
                    self.err(s, why, "use a Tuva EMPI release tag (\"v0.1.0\") or the commit SHA of a main image (ghcr.io/tuva-health/tuva-empi-backend:<sha>)");
                }
                crate::tuva::classify(crate::tuva::V0_1_0).expect("v0.1.0 is known")
            }
        };
        let (namespace, ns) = self.string(raw.namespace, DEFAULT_NAMESPACE);
        if let Some(s) = &ns {
            if !is_dns_label(&namespace) {
                self.err(
                    s,
                    format!("{namespace:?} is not a valid Kubernetes namespace name"),
                    "use a-z, 0-9 and '-', e.g. \"tuva-empi\"",
                );
            } else if SYSTEM_NAMESPACES.contains(&namespace.as_str()) {
                self.err(
                    s,
                    format!("namespace {namespace:?} is one Kubernetes keeps for itself, but empi-infra deletes the stack's namespace, with all it holds, on destroy"),
                    "give Tuva EMPI a namespace of its own, e.g. \"tuva-empi\"",
                );
            }
        }
        let hostname = raw.hostname.get_ref().to_ascii_lowercase();
        if !is_hostname(&hostname) {
            self.err(
                &raw.hostname,
                format!("{:?} is not a DNS hostname", raw.hostname.get_ref()),
                "write the host users will open, e.g. \"empi.example.org\"",
            );
        }
        let certificate_arn = raw.certificate_arn.get_ref().clone();
        if let Err(why) = crate::arn::Arn::check(
            &certificate_arn,
            "acm",
            Some(region),
            crate::arn::partition_of(region),
            "certificate/",
        ) {
            self.err(
                &raw.certificate_arn,
                format!("certificate_arn {} {why}", crate::arn::shown(&certificate_arn)),
                format!(
                    "use the ARN of an ACM certificate for the hostname in {region}: arn:{}:acm:{region}:<account>:certificate/<id>",
                    crate::arn::partition_of(region)
                ),
            );
        }
        let matching_job_runner = match raw.matching_job_runner {
            None => DEFAULT_RUNNER.to_string(),
            Some(s) => {
                if s.get_ref() != "process" && s.get_ref() != "k8s" {
                    self.err(
                        &s,
                        format!("matching_job_runner {:?} is not known", s.get_ref()),
                        "use \"process\" or \"k8s\"",
                    );
                } else if s.get_ref() == "k8s" && !tuva.k8s_job_runner {
                    self.err(
                        &s,
                        format!(
                            "Tuva EMPI {version} has no Kubernetes job runner; it came with {}",
                            crate::tuva::since("k8s_job_runner")
                        ),
                        "use matching_job_runner = \"process\", or a version from that commit on",
                    );
                }
                s.into_inner()
            }
        };
        // upstream runs matching jobs in `default` until job_namespace exists, then where it says
        let default_job_ns =
            if tuva.job_namespace { namespace.clone() } else { "default".to_string() };
        let matching_job_namespace = match &raw.matching_job_namespace {
            None => default_job_ns,
            Some(s) => {
                let v = s.get_ref().clone();
                if !is_dns_label(&v) {
                    self.err(
                        s,
                        format!("{v:?} is not a valid Kubernetes namespace name"),
                        "use a-z, 0-9 and '-', e.g. \"tuva-empi-jobs\"",
                    );
                } else if v != "default" && SYSTEM_NAMESPACES.contains(&v.as_str()) {
                    // `default` is used, never made or deleted; another namespace is empi-infra's own
                    self.err(
                        s,
                        format!("matching_job_namespace {v:?} is one Kubernetes keeps for itself, but empi-infra deletes the jobs' namespace, with all it holds, on destroy"),
                        "give the matching jobs a namespace of their own, e.g. \"tuva-empi-jobs\", or leave matching_job_namespace out",
                    );
                } else if !tuva.job_namespace && v != "default" {
                    self.err(
                        s,
                        format!(
                            "Tuva EMPI {version} runs matching jobs only in \"default\"; k8s_job_runner.job_namespace came with {}",
                            crate::tuva::since("job_namespace")
                        ),
                        "remove matching_job_namespace, or use a version from that commit on",
                    );
                }
                v
            }
        };
        let rollout_timeout_secs = match &raw.rollout_timeout {
            None => 600,
            Some(v) => self.duration(v, "rollout_timeout", 30, 6 * 3600),
        };
        AppConfig {
            rollout_timeout_secs,
            version,
            namespace,
            hostname,
            certificate_arn,
            api_replicas: self.int(&raw.api_replicas, &API_REPLICAS),
            frontend_replicas: self.int(&raw.frontend_replicas, &FRONTEND_REPLICAS),
            matching_service_replicas: self
                .int(&raw.matching_service_replicas, &MATCHING_SERVICE_REPLICAS),
            matching_job_runner,
            matching_job_namespace,
            tuva,
            health_proxy_image: self.image(
                raw.health_proxy_image,
                "health_proxy_image",
                DEFAULT_HEALTH_PROXY_IMAGE,
            ),
        }
    }

    /// An image reference (`repository[:tag][@digest]`) as a container runtime takes it.
    fn image(&mut self, v: Option<S<String>>, key: &str, default: &str) -> String {
        let (image, at) = self.string(v, default);
        let Some(at) = at else { return image };
        let problem = if image.is_empty() {
            Some("is empty")
        } else if image.contains("://") {
            Some("names a URL scheme, which image references do not have")
        } else if image.chars().any(|c| c.is_whitespace() || c.is_control() || c.is_uppercase()) {
            Some("holds whitespace, a control character or an upper-case letter")
        } else if image.ends_with([':', '@', '/']) {
            Some("ends before its tag or digest")
        } else {
            None
        };
        if let Some(why) = problem {
            self.err(
                &at,
                format!("`{key}` {image:?} {why}"),
                format!("write a repository and a tag, e.g. \"{default}\""),
            );
        }
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::tests::*;

    #[test]
    fn finding_6_certificate_arns_of_another_partition_or_without_an_id_are_refused() {
        for (bad, why) in [
            ("arn:aws-cn:acm:us-east-1:123456789012:certificate/abc", "partition"),
            ("arn:aws:acm:us-east-1:123456789012:certificate/", "no acm id"),
            ("arn:aws:acm:us-east-1::certificate/abc", "12 digits"),
            ("arn:aws:acm:eu-west-1:123456789012:certificate/abc", "eu-west-1"),
        ] {
            let e =
                err(&MINIMAL.replace("arn:aws:acm:us-east-1:123456789012:certificate/abc", bad));
            assert!(e.message.contains(why), "{bad}: {e}");
            assert_eq!(e.line, 7, "{bad}: {e}");
        }
    }

    #[test]
    fn issue_24_a_namespace_kubernetes_keeps_is_refused_since_destroy_deletes_the_stacks() {
        for ns in ["kube-system", "kube-public", "kube-node-lease", "default"] {
            let e = err(&MINIMAL.replace("[app]\n", &format!("[app]\nnamespace = \"{ns}\"\n")));
            assert_eq!(
                e.to_string(),
                format!("s.toml:6:13: namespace {ns:?} is one Kubernetes keeps for itself, but empi-infra deletes the stack's namespace, with all it holds, on destroy\n  fix: give Tuva EMPI a namespace of its own, e.g. \"tuva-empi\"")
            );
        }
        let e =
            err(&MINIMAL.replace("[app]\n", "[app]\nmatching_job_namespace = \"kube-system\"\n"));
        assert!(
            e.message.starts_with(
                "matching_job_namespace \"kube-system\" is one Kubernetes keeps for itself"
            ),
            "{e}"
        );
        // the jobs may run in `default`, which empi-infra uses but never makes or deletes
        assert_eq!(
            Stack::parse(
                "s.toml",
                &MINIMAL.replace("[app]\n", "[app]\nmatching_job_namespace = \"default\"\n")
            )
            .unwrap()
            .app
            .matching_job_namespace,
            "default"
        );
    }

    #[test]
    fn issue_27_the_health_proxy_image_may_come_from_a_mirror_and_a_bad_one_is_refused_where_it_is()
    {
        let s = Stack::parse("s.toml", MINIMAL).unwrap();
        assert_eq!(s.app.health_proxy_image, DEFAULT_HEALTH_PROXY_IMAGE);
        let mirror = "registry.example.org/mirror/nginx-unprivileged:1.30.5-alpine-slim";
        let with = |image: &str| format!("{MINIMAL}health_proxy_image = {image:?}\n");
        assert_eq!(Stack::parse("s.toml", &with(mirror)).unwrap().app.health_proxy_image, mirror);
        for bad in
            ["https://registry.example.org/nginx:1", "nginx: 1", "registry.example.org/nginx:", ""]
        {
            let e = err(&with(bad));
            assert_eq!(e.line, 8, "{bad:?}: {e}");
            assert!(e.message.contains("health_proxy_image"), "{bad:?}: {e}");
        }
    }
}
