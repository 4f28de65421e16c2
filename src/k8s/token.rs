//! The EKS bearer token, made the way `aws eks get-token` makes it: a presigned STS
//! `GetCallerIdentity` URL that also signs the `x-k8s-aws-id` header (the cluster name), base64url
//! encoded behind `k8s-aws-v1.`. Signed with the SDK's SigV4 crate; valid for 15 minutes.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine;

/// How long the presigned URL is valid (EKS accepts up to 15 minutes; the CLI uses 60 s).
const EXPIRES: Duration = Duration::from_secs(60);

pub fn eks_token(
    creds: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String, String> {
    let identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let host = format!("sts.{region}.amazonaws.com");
    let url = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let headers = [("host", host.as_str()), ("x-k8s-aws-id", cluster)];
    let request = SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| e.to_string())?;
    let (instructions, _signature) =
        sign(request, &params).map_err(|e| e.to_string())?.into_parts();
    let mut presigned = url;
    for (k, v) in instructions.params() {
        presigned.push('&');
        presigned.push_str(&urlencoding::encode(k));
        presigned.push('=');
        presigned.push_str(&urlencoding::encode(v));
    }
    Ok(format!("k8s-aws-v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_a_presigned_sts_url_for_the_cluster() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let t = eks_token(
            &creds,
            "eu-west-1",
            "tuva-empi-prod",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        let b64 = t.strip_prefix("k8s-aws-v1.").expect("prefix");
        assert!(
            !b64.contains('=') && !b64.contains('+') && !b64.contains('/'),
            "base64url without padding"
        );
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{url}");
        assert!(
            url.contains(
                "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Feu-west-1%2Fsts%2Faws4_request"
            ),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
            "the cluster name is signed: {url}"
        );
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        // deterministic for the same inputs, different for another cluster
        let again = eks_token(
            &creds,
            "eu-west-1",
            "tuva-empi-prod",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        assert_eq!(t, again);
        let other = eks_token(
            &creds,
            "eu-west-1",
            "other",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        assert_ne!(t, other);
    }
}
