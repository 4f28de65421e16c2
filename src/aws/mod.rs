//! The AWS provider: SDK configuration (endpoint override for the local cloud, the default
//! credential chain otherwise), the generic adapter ([`adapter`]) and one [`adapter::AwsKind`] per
//! AWS resource kind declared in `empi_engine::kinds`. This is the only part of empi-infra that
//! depends on the AWS SDK crates.

pub mod acm;
mod adapter;
mod cognito;
pub mod eks;
mod elb;
mod iam;
pub mod kms;
mod logs;
mod network;
pub mod rds;
pub mod restore;
mod routing;
mod s3;
pub mod secrets;
mod waf;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use empi_engine::resource::{Attrs, ProviderError, Registry};
use serde_json::Value;

/// Every AWS client the resources use, built from one SDK configuration.
#[derive(Clone)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub eks: aws_sdk_eks::Client,
    pub rds: aws_sdk_rds::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub wafv2: aws_sdk_wafv2::Client,
    pub sts: aws_sdk_sts::Client,
    pub kms: aws_sdk_kms::Client,
    pub acm: aws_sdk_acm::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub region: String,
    /// The SDK configuration (credentials for EKS tokens).
    pub sdk: aws_config::SdkConfig,
}

/// Where AWS is: the endpoint (if not AWS itself) and the region.
#[derive(Debug, Clone)]
pub struct Target {
    pub region: String,
    pub endpoint_url: Option<String>,
}

impl Target {
    /// `AWS_ENDPOINT_URL` wins over the stack's `[target] aws_endpoint_url`.
    pub fn from_stack(stack: &empi_engine::stack::Stack) -> Target {
        let endpoint_url = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .or(stack.target.aws_endpoint_url.clone());
        Target { region: stack.region.clone(), endpoint_url }
    }

    /// Whether the AWS endpoint is on this machine (the local cloud).
    pub fn is_loopback(&self) -> bool {
        self.endpoint_url.as_deref().is_some_and(|u| {
            u.contains("://127.") || u.contains("://localhost") || u.contains("://[::1]")
        })
    }
}

/// How long one AWS or Kubernetes operation may take (`EMPI_INFRA_REQUEST_TIMEOUT`, e.g. "45s";
/// default 30 s), its quick retries (throttling, 5xx, resets) included. A request that gets no
/// answer in that time is not sent again: AWS may have carried it out (a create without an
/// idempotency token would then exist twice), so the step fails as an interrupted one, which the
/// next run finds by name and tags.
///
/// Every command that reaches the cloud checks the setting when it starts
/// ([`checked_request_timeout`], from `Session::open`), so a value that is not a duration from 1 s
/// to 1 h is an error there; afterwards this cannot fail.
pub fn request_timeout() -> std::time::Duration {
    checked_request_timeout().unwrap_or(DEFAULT_REQUEST_TIMEOUT)
}

/// `EMPI_INFRA_REQUEST_TIMEOUT` checked: unset is 30 s; `abc`, `0s`, `-1s`, `NaN`, less than a
/// second (no AWS call answers sooner) or more than an hour (a lock held that long by a silent
/// endpoint) is refused.
pub fn checked_request_timeout() -> Result<std::time::Duration, empi_engine::env::EnvError> {
    use std::time::Duration;
    empi_engine::env::duration(
        REQUEST_TIMEOUT_VAR,
        DEFAULT_REQUEST_TIMEOUT,
        Duration::from_secs(1),
        Duration::from_secs(3600),
    )
}

/// The variable of [`request_timeout`].
pub const REQUEST_TIMEOUT_VAR: &str = "EMPI_INFRA_REQUEST_TIMEOUT";

/// The default deadline of one request.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Setting up a connection never takes longer than this.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The SDK configuration for `target` (endpoint override, region, default credential chain).
pub async fn sdk_config(target: &Target) -> aws_config::SdkConfig {
    // transient faults (throttling, 5xx, resets) are retried by the SDK: bounded, with
    // exponential backoff and jitter
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(6)
        .with_initial_backoff(std::time::Duration::from_millis(200));
    // a silent endpoint fails the run in bounded time (and releases the lock) instead of holding
    // it forever. The deadline is the operation's, not each attempt's: an attempt abandoned for
    // its deadline and sent again made a second internet gateway when the first request was only
    // slow (tests/it/crash.rs, "endpoint paused")
    let deadline = request_timeout();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(deadline.min(CONNECT_TIMEOUT))
        .operation_timeout(deadline)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(target.region.clone()))
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(url) = &target.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // the local cloud accepts any key; don't make people configure one (and don't wait on IMDS)
    if target.is_loopback()
        && std::env::var("AWS_ACCESS_KEY_ID").is_err()
        && std::env::var("AWS_PROFILE").is_err()
    {
        loader = loader.credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "empi-infra-local-cloud",
        ));
    }
    loader.load().await
}

/// An S3 client for `target` (path-style addressing against a custom endpoint).
pub fn s3_client(conf: &aws_config::SdkConfig, target: &Target) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(target.endpoint_url.is_some())
            .build(),
    )
}

/// The last check before an AWS request goes out: none once this process lost its S3 state lock
/// (`s3_state::lease_lost`). The executor checks before each call too; this closes the gap
/// between that check and the send (a run paused there sends nothing when it resumes). The S3
/// client, which also writes the state and releases the lock, has none: its state writes are
/// conditional on what the run last saw.
#[derive(Debug)]
struct Fence;

impl aws_sdk_eks::config::Intercept for Fence {
    fn name(&self) -> &'static str {
        "empi-infra state lock fence"
    }

    fn read_before_transmit(
        &self,
        _ctx: &aws_sdk_eks::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_eks::config::RuntimeComponents,
        _cfg: &mut aws_sdk_eks::config::ConfigBag,
    ) -> Result<(), aws_sdk_eks::error::BoxError> {
        match crate::s3_state::lease_lost() {
            Some(why) => Err(format!("not sent: {why}").into()),
            None => Ok(()),
        }
    }
}

/// A service client of `conf` whose requests pass the [`Fence`].
macro_rules! fenced {
    ($service:ident, $conf:expr) => {
        $service::Client::from_conf(
            $service::config::Builder::from($conf).interceptor(Fence).build(),
        )
    };
}

impl Clients {
    pub async fn new(target: &Target) -> Clients {
        let conf = sdk_config(target).await;
        Clients {
            ec2: fenced!(aws_sdk_ec2, &conf),
            iam: fenced!(aws_sdk_iam, &conf),
            eks: fenced!(aws_sdk_eks, &conf),
            rds: fenced!(aws_sdk_rds, &conf),
            cognito: fenced!(aws_sdk_cognitoidentityprovider, &conf),
            secrets: fenced!(aws_sdk_secretsmanager, &conf),
            s3: s3_client(&conf, target),
            elb: fenced!(aws_sdk_elasticloadbalancingv2, &conf),
            autoscaling: fenced!(aws_sdk_autoscaling, &conf),
            wafv2: fenced!(aws_sdk_wafv2, &conf),
            sts: fenced!(aws_sdk_sts, &conf),
            kms: fenced!(aws_sdk_kms, &conf),
            acm: fenced!(aws_sdk_acm, &conf),
            logs: fenced!(aws_sdk_cloudwatchlogs, &conf),
            cloudtrail: fenced!(aws_sdk_cloudtrail, &conf),
            region: target.region.clone(),
            sdk: conf,
        }
    }

    /// The SDK configuration of another region (the database's backup replica).
    fn sdk_in(&self, region: &str) -> aws_config::SdkConfig {
        self.sdk.to_builder().region(aws_config::Region::new(region.to_string())).build()
    }

    /// A KMS client of another region (the database's backup replica's key), fenced as the others.
    pub fn kms_in(&self, region: &str) -> aws_sdk_kms::Client {
        fenced!(aws_sdk_kms, &self.sdk_in(region))
    }

    /// An RDS client of another region (where the database's automated backups are replicated).
    pub fn rds_in(&self, region: &str) -> aws_sdk_rds::Client {
        fenced!(aws_sdk_rds, &self.sdk_in(region))
    }

    /// The AWS account the credentials belong to (part of globally unique names).
    pub async fn account_id(&self) -> Result<String, ProviderError> {
        Ok(self.caller().await?.0)
    }

    /// The account of the credentials and the IAM principal they act as (an assumed role's role).
    pub async fn caller(&self) -> Result<(String, String), ProviderError> {
        let r = self.sts.get_caller_identity().send().await.map_err(|e| {
            if let SdkError::DispatchFailure(_) = &e {
                if DisplayErrorContext(&e).to_string().contains("credentials") {
                    return ProviderError::coded(
                        "NoCredentials",
                        "no AWS credentials were found (looked in the environment, profiles, SSO, web identity and instance metadata); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or log in with `aws sso login`",
                    );
                }
            }
            let mut p = aws_err(e);
            p.message =
                format!("cannot tell which AWS account the credentials belong to ({}); check the credentials and region", p.message);
            p
        })?;
        let account = r
            .account()
            .map(String::from)
            .ok_or_else(|| ProviderError::new("GetCallerIdentity returned no account"))?;
        Ok((account, empi_engine::arn::iam_principal_of(r.arn().unwrap_or_default())))
    }

    /// The region's availability zones as the account sees them: (zone, state, opt-in status).
    pub async fn zones(
        &self,
    ) -> Result<Vec<(empi_engine::zones::Zone, String, Option<String>)>, ProviderError> {
        let r = self
            .ec2
            .describe_availability_zones()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("zone-type")
                    .values("availability-zone")
                    .build(),
            )
            .send()
            .await
            .map_err(aws_err)?;
        Ok(r.availability_zones()
            .iter()
            .map(|z| {
                let zone = empi_engine::zones::Zone {
                    name: z.zone_name().unwrap_or_default().to_string(),
                    id: z.zone_id().unwrap_or_default().to_string(),
                };
                (
                    zone,
                    z.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    z.opt_in_status().map(|o| o.as_str().to_string()),
                )
            })
            .collect())
    }

    /// The Kubernetes versions EKS offers here with their support status (`STANDARD_SUPPORT`,
    /// `EXTENDED_SUPPORT`, `UNSUPPORTED`), or `None` where the endpoint does not answer
    /// `DescribeClusterVersions` (older partitions, plain moto).
    pub async fn cluster_versions(&self) -> Result<Option<Vec<(String, String)>>, ProviderError> {
        let r = match self.eks.describe_cluster_versions().include_all(true).send().await {
            Ok(r) => r,
            Err(e) if unanswered(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        Ok(Some(
            r.cluster_versions()
                .iter()
                .map(|v| {
                    let status =
                        v.version_status().map(|s| s.as_str().to_string()).unwrap_or_default();
                    (v.cluster_version().unwrap_or_default().to_string(), status)
                })
                .collect(),
        ))
    }
}

/// The registry of every AWS resource type.
pub fn registry(clients: Arc<Clients>) -> Registry {
    let mut r = Registry::new();
    kms::register(&mut r, &clients);
    network::register(&mut r, &clients);
    routing::register(&mut r, &clients);
    s3::register(&mut r, &clients);
    elb::register(&mut r, &clients);
    waf::register(&mut r, &clients);
    iam::register(&mut r, &clients);
    eks::register(&mut r, &clients);
    rds::register(&mut r, &clients);
    cognito::register(&mut r, &clients);
    secrets::register(&mut r, &clients);
    logs::register(&mut r, &clients);
    r
}

/// Converts an SDK error into the engine's error, keeping the AWS error code and classing it.
pub(crate) fn aws_err<E>(e: SdkError<E, aws_sdk_ec2::config::http::HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    adapter::AwsError::from(e).0
}

/// Whether `e` says the endpoint does not offer the operation at all (an older partition, or a
/// local endpoint without it): HTTP 404 or 501, or a code naming an unknown or invalid action.
/// Callers fall back to what this release knows rather than fail the command.
pub(crate) fn unanswered<E>(e: &SdkError<E, aws_sdk_ec2::config::http::HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    matches!(status, Some(404 | 501))
        || e.code().is_some_and(|c| {
            c.contains("UnknownOperation")
                || c.contains("InvalidAction")
                || c.contains("NotImplemented")
        })
}

/// Reads a string input.
pub(crate) fn input_str<'a>(a: &'a Attrs, k: &str) -> &'a str {
    a.get(k).and_then(Value::as_str).unwrap_or_default()
}

pub(crate) fn input_bool(a: &Attrs, k: &str) -> bool {
    a.get(k).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn input_i32(a: &Attrs, k: &str) -> i32 {
    a.get(k).and_then(Value::as_i64).unwrap_or(0) as i32
}

pub(crate) fn strings(a: &Attrs, k: &str) -> Vec<String> {
    a.get(k)
        .and_then(Value::as_array)
        .map(|xs| xs.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

pub(crate) fn tags(a: &Attrs) -> BTreeMap<String, String> {
    a.get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
        })
        .unwrap_or_default()
}

/// Tags as read back, without the ones AWS adds itself (`aws:*`).
pub(crate) fn tags_value<I: IntoIterator<Item = (String, String)>>(it: I) -> Value {
    let m: BTreeMap<String, String> =
        it.into_iter().filter(|(k, _)| !k.starts_with("aws:")).collect();
    serde_json::to_value(m).unwrap()
}

pub(crate) fn sorted(mut v: Vec<String>) -> Value {
    v.sort();
    serde_json::to_value(v).unwrap()
}

pub(crate) fn attrs<const N: usize>(pairs: [(&str, Value); N]) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Which tags to set and which to remove to go from `old` to `new`.
pub(crate) fn tag_delta(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    (set, remove)
}
