//! The one generic adapter between the engine's [`Resource`] trait and an AWS kind's narrow calls.
//!
//! Every AWS kind implements [`AwsKind`]: find, read, create, update, delete, and (where it has
//! them) tags and a status. The adapter does, once for all of them: "not found" decided from the
//! kind's exact error codes (a read of a missing object is `None`, a delete of one succeeds), the
//! split of tag changes from other changes, error classes (throttling, transient, propagation),
//! and waits that end in ready, pending or a terminal state with AWS's reason.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use empi_engine::redact;
use empi_engine::resource::{
    Attrs, ErrorClass, Observed, Operation, ProviderError, ProviderResult, Readiness, Registry,
    Resource, Schema,
};

use super::{tag_delta, tags};

/// An AWS error as the kinds see it: `?` turns any SDK error (or a [`ProviderError`]) into it.
#[derive(Debug)]
pub struct AwsError(pub ProviderError);

pub type AwsResult<T> = Result<T, AwsError>;

/// Error codes AWS uses to ask callers to slow down.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
];

impl<E> From<SdkError<E, aws_sdk_ec2::config::http::HttpResponse>> for AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(e: SdkError<E, aws_sdk_ec2::config::http::HttpResponse>) -> Self {
        let code = e.code().map(String::from);
        let status = match &e {
            SdkError::ServiceError(s) => Some(s.raw().status().as_u16()),
            SdkError::ResponseError(r) => Some(r.raw().status().as_u16()),
            _ => None,
        };
        let connect_timeout = matches!(&e, SdkError::DispatchFailure(d) if d.is_timeout());
        let class = if code.as_deref().is_some_and(|c| THROTTLING.contains(&c))
            || status == Some(429)
        {
            ErrorClass::Throttling
        } else if matches!(e, SdkError::TimeoutError(_)) || connect_timeout {
            // the SDK already made every attempt within its deadlines
            ErrorClass::Unreachable
        } else if matches!(
            e,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ) || status.is_some_and(|s| s >= 500)
        {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        };
        let message = match (e.message(), status) {
            (Some(m), _) => m.to_string(),
            (None, Some(s)) if matches!(e, SdkError::ResponseError(_)) => {
                format!("the AWS endpoint answered HTTP {s} with a body that is not an AWS error")
            }
            (None, Some(s)) => format!("the AWS endpoint answered HTTP {s} without an error message"),
            (None, None) if matches!(e, SdkError::TimeoutError(_)) => {
                let t = super::request_timeout();
                format!(
                    "the AWS endpoint did not answer within {} (set EMPI_INFRA_REQUEST_TIMEOUT for a slower link); the next run finds anything this request made",
                    humantime::format_duration(t)
                )
            }
            (None, None) if connect_timeout => format!(
                "could not connect to the AWS endpoint within {}: it is down, paused or unreachable from here",
                humantime::format_duration(super::request_timeout().min(super::CONNECT_TIMEOUT))
            ),
            (None, None) => short_cause(&e),
        };
        // an endpoint may echo what it was sent or would have answered (a `SecretString`)
        let message = redact::message(&message);
        AwsError(ProviderError { code, message, class })
    }
}

/// What went wrong with a request that got no answer with an AWS message or an HTTP status: one
/// short cause, never the error's whole chain (a connection error can carry the request it could not
/// send, body and all).
fn short_cause<E, R>(e: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::DispatchFailure(d) => {
            // the kind of the first I/O error in the chain ("connection refused"), not its text
            let mut io = None;
            let mut cur: Option<&(dyn std::error::Error + 'static)> =
                d.as_connector_error().map(|c| c as _);
            while let Some(x) = cur {
                if let Some(i) = x.downcast_ref::<std::io::Error>() {
                    io = Some(i.kind().to_string());
                    break;
                }
                cur = x.source();
            }
            let cause = io.unwrap_or_else(|| {
                if d.is_io() {
                    "the connection failed".into()
                } else if d.is_user() {
                    "the request was refused by the HTTP client".into()
                } else {
                    "the HTTP client failed".into()
                }
            });
            format!("could not send the request to the AWS endpoint: {cause}; check the endpoint, the network and any proxy")
        }
        SdkError::ConstructionFailure(_) => {
            // its first cause names what was missing (credentials, region, endpoint), never the body
            let first = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default();
            let first: String = redact::message(first.lines().next().unwrap_or_default())
                .chars()
                .take(200)
                .collect();
            format!(
                "the AWS request could not be made{}",
                if first.is_empty() { String::new() } else { format!(": {first}") }
            )
        }
        _ => {
            let text = DisplayErrorContext(e).to_string();
            redact::message(text.lines().next().unwrap_or_default()).chars().take(200).collect()
        }
    }
}

impl From<ProviderError> for AwsError {
    fn from(e: ProviderError) -> Self {
        AwsError(e)
    }
}

impl AwsError {
    pub fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }

    /// The same error with a clearer sentence when its code is `code` (e.g. a create whose
    /// deterministic name is taken by an object this stack's state does not know).
    pub fn explain(mut self, code: &str, message: impl FnOnce() -> String) -> AwsError {
        if self.code() == Some(code) {
            self.0.message = message();
        }
        self
    }
}

/// An SDK error as an [`AwsError`] (for `map_err`).
pub(crate) fn aws<E>(e: SdkError<E, aws_sdk_ec2::config::http::HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    AwsError::from(e)
}

/// Sends a request whose answer does not matter (a delete, a modify): `done(c.delete_vpc().vpc_id(id).send()).await`.
pub(crate) async fn done<T, E>(
    request: impl std::future::Future<
        Output = Result<T, SdkError<E, aws_sdk_ec2::config::http::HttpResponse>>,
    >,
) -> AwsResult<()>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    request.await?;
    Ok(())
}

/// The id (or ARN) a create call returned.
pub(crate) fn returned(id: Option<&str>, call: &str) -> AwsResult<String> {
    Ok(id.ok_or_else(|| ProviderError::new(format!("{call} returned no id")))?.to_string())
}

/// Tags as the stack sets them.
pub(crate) type Tags = BTreeMap<String, String>;

/// How a kind's waits end.
pub(crate) enum Lifecycle {
    /// Ready as soon as the call returns; a delete is done when a read finds nothing.
    Instant,
    /// Ready at once, and a delete is done as soon as the call returns (the object outlives the
    /// resource: a secret's value stays readable until the secret goes).
    Detached,
    /// Has a status: `ready` ends a create or update, `failed` ends any wait in failure.
    Status { ready: &'static [&'static str], failed: &'static [&'static str] },
}

/// One AWS resource kind: only its narrow calls. The adapter does the rest.
#[async_trait]
pub(crate) trait AwsKind: Send + Sync + 'static {
    /// The kind's declaration (`empi_engine::kinds`).
    const SCHEMA: &'static Schema;
    /// The exact error codes meaning "no such object" for this kind's calls.
    const NOT_FOUND: &'static [&'static str];
    /// How its waits end.
    const LIFECYCLE: Lifecycle = Lifecycle::Instant;

    /// Finds the object this stack created under `name` (by name or the address tag).
    async fn find(&self, name: &str, address: &str, inputs: &Attrs) -> AwsResult<Option<String>>;
    /// Reads the live object (`None`, or a not-found error, when it is gone).
    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>>;
    /// Creates it (with its tags) and returns its id.
    async fn create(&self, name: &str, address: &str, inputs: &Attrs) -> AwsResult<String>;
    /// Changes the attributes in `changed`; tags are never among them (see [`AwsKind::retag`]).
    async fn update(
        &self,
        _id: &str,
        _old: &Attrs,
        _new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        Ok(())
    }
    /// Deletes it (a not-found error counts as done).
    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()>;
    /// Sets `set` and removes `remove` from the object's tags.
    async fn retag(
        &self,
        _id: &str,
        _new: &Attrs,
        _set: Tags,
        _remove: Vec<String>,
    ) -> AwsResult<()> {
        Ok(())
    }
    /// The status (and AWS's reason for it, if any) for [`Lifecycle::Status`] kinds; `None` when gone.
    async fn status(&self, _id: &str, _recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        Ok(None)
    }
}

/// The engine's [`Resource`] for an [`AwsKind`].
pub(crate) struct Adapter<K>(K, PhantomData<K>);

/// Registers `kind` with the engine.
pub(crate) fn add<K: AwsKind>(r: &mut Registry, kind: K) {
    r.register(Arc::new(Adapter(kind, PhantomData)));
}

impl<K: AwsKind> Adapter<K> {
    /// The engine's error, classed: not found, propagation (the kind's declaration), or as the SDK
    /// classed it.
    fn classify(e: AwsError) -> ProviderError {
        let mut p = e.0;
        if p.code.as_deref().is_some_and(|c| K::NOT_FOUND.contains(&c)) {
            p.class = ErrorClass::NotFound;
        } else if K::SCHEMA.propagation_of(&p).is_some() {
            p.class = ErrorClass::Propagation;
        }
        p
    }

    /// `Ok(None)` for a not-found error.
    fn unless_gone<T>(r: AwsResult<Option<T>>) -> ProviderResult<Option<T>> {
        match r.map_err(Self::classify) {
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            other => other,
        }
    }
}

#[async_trait]
impl<K: AwsKind> Resource for Adapter<K> {
    fn schema(&self) -> &'static Schema {
        K::SCHEMA
    }

    async fn find(
        &self,
        name: &str,
        address: &str,
        inputs: &Attrs,
    ) -> ProviderResult<Option<String>> {
        Self::unless_gone(self.0.find(name, address, inputs).await)
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        Self::unless_gone(self.0.read(id, recorded).await)
    }

    async fn create(&self, name: &str, address: &str, inputs: &Attrs) -> ProviderResult<String> {
        self.0.create(name, address, inputs).await.map_err(Self::classify)
    }

    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> ProviderResult<()> {
        let (tag_changes, rest): (Vec<String>, Vec<String>) =
            changed.iter().cloned().partition(|c| c == "tags");
        if !rest.is_empty() {
            self.0.update(id, old, new, &rest).await.map_err(Self::classify)?;
        }
        if !tag_changes.is_empty() {
            let (set, remove) = tag_delta(&tags(old), &tags(new));
            if !set.is_empty() || !remove.is_empty() {
                self.0.retag(id, new, set, remove).await.map_err(Self::classify)?;
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete(id, recorded).await.map_err(Self::classify) {
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            other => other,
        }
    }

    async fn wait(&self, id: &str, op: Operation, recorded: &Attrs) -> ProviderResult<Readiness> {
        if matches!(K::LIFECYCLE, Lifecycle::Detached) {
            return Ok(Readiness::Ready);
        }
        let Lifecycle::Status { ready, failed } = K::LIFECYCLE else {
            if op == Operation::Delete && self.read(id, recorded).await?.is_some() {
                return Ok(Readiness::Pending("deleting".into()));
            }
            return Ok(Readiness::Ready);
        };
        let status = Self::unless_gone(self.0.status(id, recorded).await)?;
        let what = K::SCHEMA.kind.trim_start_matches("aws_").replace('_', " ");
        Ok(match status {
            None if op == Operation::Delete => Readiness::Ready,
            None => {
                return Err(ProviderError::coded(
                    "NotFound",
                    format!("{what} {id} disappeared while {}", op.progressive()),
                ));
            }
            Some((s, reason)) if failed.contains(&s.as_str()) => {
                let reason = if reason.is_empty() { String::new() } else { format!(": {reason}") };
                return Err(ProviderError::coded(
                    format!("{}Failed", K::SCHEMA.kind),
                    format!("{what} {id} is {s}{reason}"),
                ));
            }
            Some((s, _)) if op != Operation::Delete && ready.contains(&s.as_str()) => {
                Readiness::Ready
            }
            Some((s, _)) => Readiness::Pending(s.to_lowercase()),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::config::http::HttpResponse;
    use aws_sdk_ec2::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
    use base64::Engine;

    use super::*;

    fn answered(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), aws_sdk_s3::primitives::SdkBody::from("{}"))
    }

    fn service_error(code: &str, message: &str) -> SdkError<GetSecretValueError, HttpResponse> {
        SdkError::service_error(
            GetSecretValueError::generic(
                ErrorMetadata::builder().code(code).message(message).build(),
            ),
            answered(400),
        )
    }

    #[test]
    fn an_aws_message_echoing_secrets_shows_none_of_them_in_any_form() {
        let password = "adapter-test-password-Tq7Wv2Xk9Lm4";
        redact::register(password);
        let b64 = base64::engine::general_purpose::STANDARD.encode(password);
        let hex: String = password.bytes().map(|b| format!("{b:02X}")).collect();
        // a value empi-infra never saw, inside an echoed SecretString
        let unseen = "never-registered-Kx81";
        let echoed = format!(
            r#"echo: {{"SecretId":"arn:x","SecretString":"{{\"db\":{{\"password\":\"{unseen}\"}}}}"}}; also {b64}, {hex} and {}"#,
            password.to_uppercase()
        );
        let p = AwsError::from(service_error("ValidationException", &echoed)).0;
        assert_eq!(p.code.as_deref(), Some("ValidationException"));
        assert_eq!(p.class, ErrorClass::Permanent);
        for leaked in [password, &password.to_uppercase(), &b64[..40], &hex, unseen] {
            assert!(!p.message.contains(leaked), "{leaked} in {:?}", p.message);
        }
        assert_eq!(
            p.message,
            // of the base64, only the last character, which also holds what followed, and the padding
            r#"echo: {"SecretId":"arn:x","SecretString":"(sensitive)"}; also (sensitive)A==, (sensitive) and (sensitive)"#
        );
    }

    #[test]
    fn a_request_that_could_not_be_sent_or_built_is_one_short_cause_without_its_body() {
        let body = "Action=PutSecretValue&SecretString=request-body-secret-Zr5";
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            format!("could not send {body}"),
        );
        let e: SdkError<GetSecretValueError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        let p = AwsError::from(e).0;
        assert_eq!(
            p.message,
            "could not send the request to the AWS endpoint: connection refused; check the endpoint, the network and any proxy"
        );
        assert_eq!(p.class, ErrorClass::Transient);

        let e: SdkError<GetSecretValueError, HttpResponse> = SdkError::construction_failure(
            format!("failed to serialize input: {body}\nsecond line"),
        );
        let p = AwsError::from(e).0;
        assert_eq!(
            p.message,
            "the AWS request could not be made: failed to serialize input: Action=PutSecretValue&SecretString=(sensitive)"
        );
    }
}
