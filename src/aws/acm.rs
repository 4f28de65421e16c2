//! ACM: the certificate the stack's HTTPS listener serves (`[app] certificate_arn`), checked at
//! `plan` before anything is made. The listener is first made 20–30 minutes into a first apply,
//! after EKS and RDS: a certificate ACM has not issued, or one for other names, failed there.

use aws_sdk_acm::types::CertificateStatus;
use aws_sdk_acm::Client;
use empi_engine::resource::ProviderError;

use super::adapter::AwsError;

/// Days before its expiry from which `plan` warns about the certificate.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// What `plan` learnt of the certificate: a problem that stops it (one sentence and the fix), or
/// warnings.
pub enum Verdict {
    Refused(String),
    Usable(Vec<String>),
}

/// Whether a certificate for `names` (its domain name and subject alternative names) serves
/// `host`: one equal to it, or a wildcard one label above it (`*.example.org` serves
/// `empi.example.org`, not `a.empi.example.org`).
pub fn covers(names: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    names.iter().map(|n| n.to_ascii_lowercase()).any(|n| match n.strip_prefix("*.") {
        Some(parent) => {
            host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent)
        }
        None => n == host,
    })
}

/// Checks the certificate `arn` serves `host` now: issued, for that name, not expired.
pub async fn check(c: &Client, arn: &str, host: &str, now: i64) -> Result<Verdict, ProviderError> {
    let fix_key = "[app] certificate_arn";
    let detail =
        match c.describe_certificate().certificate_arn(arn).send().await.map_err(AwsError::from) {
            Ok(r) => r.certificate,
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => return Err(e.0),
        };
    let Some(cert) = detail else {
        return Ok(Verdict::Refused(format!(
            "the certificate {arn} ({fix_key}) does not exist in this account and region; request one for {host} in ACM (or import yours) in the stack's region and name its ARN"
        )));
    };
    let status = cert.status().cloned();
    if status != Some(CertificateStatus::Issued) {
        let shown =
            status.map(|s| s.as_str().to_string()).unwrap_or_else(|| "in no known state".into());
        let fix = match shown.as_str() {
            "PENDING_VALIDATION" => "create the DNS validation records ACM asks for (`aws acm describe-certificate --certificate-arn … --query Certificate.DomainValidationOptions`), wait until it says ISSUED, then run plan again",
            "EXPIRED" | "REVOKED" | "INACTIVE" => "request or import a new certificate and name its ARN",
            _ => "name a certificate ACM has issued",
        };
        return Ok(Verdict::Refused(format!(
            "the certificate {arn} ({fix_key}) is {shown}, not ISSUED, so the load balancer cannot serve it; {fix}"
        )));
    }
    let mut names: Vec<String> = cert.domain_name().map(String::from).into_iter().collect();
    for n in cert.subject_alternative_names() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    if !covers(&names, host) {
        return Ok(Verdict::Refused(format!(
            "the certificate {arn} ({fix_key}) is for {}, not for {host} ([app] hostname), so browsers would refuse it; name a certificate for {host} (or a wildcard one label above it)",
            names.join(", ")
        )));
    }
    let mut warnings = vec![];
    if let Some(after) = cert.not_after() {
        let days = (after.secs() - now) / 86_400;
        if days < 0 {
            return Ok(Verdict::Refused(format!(
                "the certificate {arn} ({fix_key}) expired on {after}; renew or replace it and name the new one"
            )));
        }
        if days < EXPIRY_WARNING_DAYS {
            warnings.push(format!(
                "the certificate {arn} ({fix_key}) expires in {days} days ({after}); an ACM-issued certificate renews itself while its DNS validation records stay, an imported one does not"
            ));
        }
    }
    Ok(Verdict::Usable(warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_serves_its_names_and_one_label_under_its_wildcard() {
        let names = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(covers(&names(&["empi.example.org"]), "empi.example.org"));
        assert!(covers(&names(&["EMPI.example.org"]), "empi.Example.org"));
        assert!(covers(&names(&["example.org", "*.example.org"]), "empi.example.org"));
        assert!(!covers(&names(&["*.example.org"]), "a.empi.example.org"));
        assert!(!covers(&names(&["*.example.org"]), "example.org"));
        assert!(!covers(&names(&["other.example.org"]), "empi.example.org"));
        assert!(!covers(&[], "empi.example.org"));
    }
}
