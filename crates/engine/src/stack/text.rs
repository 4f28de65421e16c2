//! Predicates on the stack file's strings: DNS labels, host names, email addresses, IAM principal
//! ARNs and dates.

/// A real calendar date written YYYY-MM-DD.
pub(super) fn valid_date(s: &str) -> bool {
    crate::env::date_problem(s).is_none() && s >= "2000"
}

pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(super) fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            is_dns_label(&l.to_ascii_lowercase())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

pub(super) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && !local.contains(char::is_whitespace)
        && !domain.contains('@')
        && is_hostname(&domain.to_ascii_lowercase())
}

/// Whether `s` is the ARN of an IAM role or user.
pub(super) fn is_iam_principal(s: &str) -> bool {
    crate::arn::Arn::parse(s).is_ok_and(|a| {
        ["aws", "aws-cn", "aws-us-gov"].contains(&a.partition)
            && a.service == "iam"
            && a.region.is_empty()
            && a.has_account()
            && (a.id_after("role/").is_some() || a.id_after("user/").is_some())
    })
}

/// Why RDS refuses `name` as a DB instance identifier or a parameter group name, if it does: they
/// must begin with a letter and never hold two consecutive hyphens (RDS API reference,
/// `CreateDBInstance` `DBInstanceIdentifier` and `CreateDBParameterGroup` `DBParameterGroupName`).
pub(super) fn rds_name_problem(name: &str) -> Option<&'static str> {
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("does not start with a letter")
    } else if name.contains("--") {
        Some("holds two consecutive hyphens")
    } else {
        None
    }
}
