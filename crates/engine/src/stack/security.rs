//! `[security]`: the PHI baseline's settings, its log retention, and `[[security.waive]]`, the
//! baseline failures a reviewer accepted.

use super::*;

/// `cloudtrail` when the stack says nothing: most accounts have an organisation trail.
const DEFAULT_CLOUDTRAIL: bool = false;
/// `force_destroy_logs` when the stack says nothing: logs are evidence.
const DEFAULT_FORCE_DESTROY_LOGS: bool = false;

/// The security baseline's settings (docs/SECURITY.md, docs/STACK.md `[security]`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Security")]
pub(super) struct RawSecurity {
    /// The ARN of an existing customer-managed KMS key in the stack's region, e.g.
    /// "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", to encrypt
    /// the stack with instead of a key of its own. Its key policy must let the stack's cluster
    /// role and the account's EKS, RDS, Secrets Manager, S3 and CloudWatch Logs use it
    /// (docs/STACK.md). Default: the stack creates and owns its key.
    #[schemars(
        with = "Option<String>",
        pattern(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$")
    )]
    kms_key_arn: Option<S<String>>,
    /// Failures of `empi-infra check` a reviewer accepted, each until a date:
    /// `[[security.waive]] rule = "audit.vpc-flow-logs", reason = "…", expires = "2027-03-31"`.
    /// An expired waiver fails the rule again. Default: none.
    #[schemars(with = "Option<Vec<RawWaiver>>", extend("default" = []))]
    waive: Option<Vec<S<RawWaiver>>>,
    /// Days every log the stack keeps is retained: the CloudWatch log groups (EKS control plane,
    /// PostgreSQL, VPC flow logs, WAF) and the log bucket's objects (ALB and S3 access logs, the
    /// trail). One of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180,
    /// 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653.
    #[schemars(with = "Option<i64>", extend("enum" = LOG_RETENTION_DAYS, "default" = DEFAULT_LOG_RETENTION_DAYS))]
    log_retention_days: Option<S<i64>>,
    /// A multi-region CloudTrail trail of the account's management events, written to the stack's
    /// log bucket with log file validation. Most organisations already have an organisation trail
    /// (AWS Organizations), which covers this account; turn it on only when none does.
    #[schemars(with = "Option<bool>", extend("default" = DEFAULT_CLOUDTRAIL))]
    cloudtrail: Option<S<bool>>,
    /// Whether `destroy` may delete logs: the log bucket's objects and log groups that hold log
    /// data. Logs are audit evidence, so by default `destroy` stops at them and says how to archive
    /// them; set it to true and run `apply` before a `destroy` that should take them too.
    #[schemars(with = "Option<bool>", extend("default" = DEFAULT_FORCE_DESTROY_LOGS))]
    force_destroy_logs: Option<S<bool>>,
    /// Days the config secret's generated values (the database password, the Django secret key)
    /// may go unrotated before `empi-infra check` fails the rule `access.secret-age`;
    /// `empi-infra rotate db-password|django-key` rotates them. From 1 to 3650.
    #[schemars(with = "Option<i64>", range(min = 1, max = 3650), extend("default" = DEFAULT_MAX_SECRET_AGE_DAYS))]
    max_secret_age_days: Option<S<i64>>,
}

/// Days a generated secret may go unrotated when the stack says nothing (a common policy).
pub const DEFAULT_MAX_SECRET_AGE_DAYS: u32 = 90;

/// One accepted failure of a baseline rule.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Waiver")]
pub(super) struct RawWaiver {
    /// The rule's id, as `empi-infra check` names it (docs/SECURITY.md lists them). Required.
    #[schemars(with = "String")]
    rule: S<String>,
    /// One resource address the waiver covers, e.g. "edge.alb". Default: every resource the rule reads.
    #[schemars(with = "Option<String>")]
    resource: Option<S<String>>,
    /// Why the failure is accepted, and by whom: a reviewer reads it in the evidence report. Required.
    #[schemars(with = "String", length(min = 10))]
    reason: S<String>,
    /// The last day the waiver holds, "YYYY-MM-DD"; then the rule fails again. Required.
    #[schemars(with = "String", pattern(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    expires: S<String>,
}

/// The retention periods CloudWatch Logs accepts (`PutRetentionPolicy`'s `retentionInDays`; any
/// other value is an `InvalidParameterException`).
pub const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Logs are kept a year unless the stack says otherwise.
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 365;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecurityConfig {
    /// A key the organisation brings (`[security] kms_key_arn`); `None`: the stack's own key.
    pub kms_key_arn: Option<String>,
    pub waivers: Vec<Waiver>,
    /// Days logs are kept (one of [`LOG_RETENTION_DAYS`]).
    pub log_retention_days: u32,
    /// Whether the stack makes its own CloudTrail trail.
    pub cloudtrail: bool,
    /// Whether `destroy` may delete logs (the log bucket's objects, log groups holding data).
    pub force_destroy_logs: bool,
    /// Days a generated secret may go unrotated (`access.secret-age`).
    pub max_secret_age_days: u32,
    /// When the generated secrets were made and rotated: placed from state, never from the file.
    pub secrets: SecretRotations,
}

/// The config secret's tags saying when the generated database password and Django key were set
/// (made or last rotated): `check`'s rule `access.secret-age` reads them, planned and live, and an
/// auditor sees them in the console.
pub const TAG_DB_PASSWORD_SET: &str = "empi-infra:db-password-set";
pub const TAG_DJANGO_KEY_SET: &str = "empi-infra:django-key-set";

/// When the config secret's generated values were set (made, or last rotated), and which login
/// role the application connects as. Kept in state (the fact `secret_rotations`) and placed into
/// the stack before its graph is built; times in RFC 3339. The config secret's tags carry the
/// times and its document the login, so a state rebuilt after a loss finds them again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretRotations {
    /// When `db.password` was set; empty for a stack never placed (no state yet).
    #[serde(default)]
    pub db_password_set: String,
    /// When `django.secret_key` was set; empty for a stack never placed.
    #[serde(default)]
    pub django_key_set: String,
    /// The PostgreSQL login role the config document names (`db.user`); empty: the application's
    /// own role. `rotate db-password` alternates between two.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub db_login: String,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            kms_key_arn: None,
            waivers: Vec::new(),
            log_retention_days: DEFAULT_LOG_RETENTION_DAYS,
            cloudtrail: false,
            force_destroy_logs: false,
            max_secret_age_days: DEFAULT_MAX_SECRET_AGE_DAYS,
            secrets: SecretRotations::default(),
        }
    }
}

impl Validator<'_> {
    pub(super) fn security(&mut self, raw: Option<S<RawSecurity>>, region: &str) -> SecurityConfig {
        let mut waivers = Vec::new();
        let Some(raw) = raw.map(|s| s.into_inner()) else { return SecurityConfig::default() };
        let kms_key_arn = raw.kms_key_arn.map(|k| {
            let arn = k.get_ref().clone();
            let partition = crate::arn::partition_of(region);
            if let Err(why) = crate::arn::Arn::check(&arn, "kms", Some(region), partition, "key/") {
                self.err(
                    &k,
                    format!("kms_key_arn {} {why}", crate::arn::shown(&arn)),
                    format!("use the ARN of a KMS key (not an alias) in {region}: arn:{partition}:kms:{region}:<account>:key/<key id>"),
                );
            }
            arn
        });
        for w in raw.waive.unwrap_or_default() {
            let w = w.into_inner();
            if !BASELINE_RULE_IDS.iter().any(|id| *id == w.rule.get_ref()) {
                let close = BASELINE_RULE_IDS.iter().copied().find(|id| {
                    id.contains(w.rule.get_ref().as_str()) || w.rule.get_ref().contains(id)
                });
                self.err(
                    &w.rule,
                    format!("there is no baseline rule {:?} to waive", w.rule.get_ref()),
                    match close {
                        Some(id) => format!("did you mean rule = \"{id}\"? `empi-infra check` and docs/SECURITY.md list the rules"),
                        None => "use a rule id as `empi-infra check` prints it (docs/SECURITY.md lists them)".into(),
                    },
                );
            }
            if w.reason.get_ref().trim().chars().count() < 10 {
                self.err(&w.reason, "a waiver needs a reason a reviewer can read (at least 10 characters)", "say why the failure is accepted and who accepted it, e.g. reason = \"org trail covers it; approved by J. Doe, 2026-11\"");
            }
            if !valid_date(w.expires.get_ref()) {
                self.err(
                    &w.expires,
                    format!("`expires` must be a date YYYY-MM-DD, not {:?}", w.expires.get_ref()),
                    "e.g. expires = \"2027-03-31\": the last day the waiver holds",
                );
            }
            if let Some(r) = &w.resource {
                if !r.get_ref().contains('.') {
                    self.err(
                        r,
                        format!("`resource` must be a resource address such as \"edge.alb\", not {:?}", r.get_ref()),
                        "use an address `empi-infra check` prints, or leave `resource` out to waive the rule everywhere",
                    );
                }
            }
            waivers.push(Waiver {
                rule: w.rule.into_inner(),
                resource: w.resource.map(|r| r.into_inner()),
                reason: w.reason.into_inner(),
                expires: w.expires.into_inner(),
            });
        }
        let mut log_retention_days = DEFAULT_LOG_RETENTION_DAYS;
        if let Some(days) = &raw.log_retention_days {
            let d = *days.get_ref();
            if LOG_RETENTION_DAYS.contains(&d) {
                log_retention_days = d as u32;
            } else {
                let nearest = LOG_RETENTION_DAYS.iter().copied().find(|v| *v >= d).unwrap_or(3653);
                self.err(
                    days,
                    format!("`log_retention_days` is {d}, which CloudWatch Logs does not accept as a retention period"),
                    format!(
                        "use one of {} (e.g. {nearest})",
                        LOG_RETENTION_DAYS.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        let mut max_secret_age_days = DEFAULT_MAX_SECRET_AGE_DAYS;
        if let Some(days) = &raw.max_secret_age_days {
            let d = *days.get_ref();
            if (1..=3650).contains(&d) {
                max_secret_age_days = d as u32;
            } else {
                self.err(
                    days,
                    format!("`max_secret_age_days` is {d}; it must be from 1 to 3650 days"),
                    format!(
                        "e.g. max_secret_age_days = {DEFAULT_MAX_SECRET_AGE_DAYS}, the default"
                    ),
                );
            }
        }
        SecurityConfig {
            kms_key_arn,
            waivers,
            max_secret_age_days,
            secrets: SecretRotations::default(),
            log_retention_days,
            cloudtrail: raw.cloudtrail.map(|b| b.into_inner()).unwrap_or(DEFAULT_CLOUDTRAIL),
            force_destroy_logs: raw
                .force_destroy_logs
                .map(|b| b.into_inner())
                .unwrap_or(DEFAULT_FORCE_DESTROY_LOGS),
        }
    }
}

/// A waiver from the stack: `[[security.waive]]`, a failure of a baseline rule of `empi-infra
/// check` accepted until a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiver {
    pub rule: String,
    /// One resource address; `None` waives the rule for every resource.
    pub resource: Option<String>,
    pub reason: String,
    /// `YYYY-MM-DD`: the last day the waiver holds.
    pub expires: String,
}

/// The ids of the baseline's rules, which a waiver names: the vocabulary of `[[security.waive]]`.
/// `crate::check`'s rules are these, in this order (its tests hold them to it).
pub const BASELINE_RULE_IDS: &[&str] = &[
    "access.database-not-public",
    "access.database-master-password-managed",
    "access.secret-age",
    "access.bucket-public-access-blocked",
    "access.node-metadata-imdsv2",
    "access.cluster-endpoint-restricted",
    "access.namespace-pod-security",
    "access.pods-hardened",
    "access.job-pods-hardened",
    "access.bootstrap-pod-hardened",
    "access.default-security-group-closed",
    "encryption.key-rotation",
    "encryption.database",
    "encryption.cluster-secrets",
    "encryption.config-secret",
    "encryption.bucket",
    "encryption.log-groups",
    "audit.cluster-logs",
    "audit.database-logs",
    "audit.database-connections-logged",
    "audit.vpc-flow-logs",
    "audit.load-balancer-access-logs",
    "audit.bucket-access-logs",
    "audit.log-retention",
    "audit.waf-logs",
    "audit.cloudtrail",
    "integrity.bucket-versioning",
    "integrity.database-backups",
    "integrity.load-balancer-deletion-protection",
    "authentication.mfa",
    "authentication.password-policy",
    "authentication.threat-protection",
    "transmission.bucket-tls-only",
    "transmission.database-tls-only",
    "transmission.load-balancer-tls",
    "transmission.drop-invalid-headers",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::tests::*;

    #[test]
    fn waivers_are_parsed_and_a_bad_one_is_refused_at_its_line() {
        let ok = format!("{MINIMAL}\n[[security.waive]]\nrule = \"audit.vpc-flow-logs\"\nreason = \"the org's central flow logs cover this VPC\"\nexpires = \"2027-03-31\"\n");
        let s = Stack::parse("s.toml", &ok).unwrap();
        assert_eq!(s.security.waivers.len(), 1);
        assert_eq!(s.security.waivers[0].rule, "audit.vpc-flow-logs");
        assert_eq!(s.security.waivers[0].resource, None);
        let line = |src: &str, text: &str| src.lines().position(|l| l.contains(text)).unwrap() + 1;
        let bad_rule = ok.replace("audit.vpc-flow-logs", "flow-logs");
        let e = err(&bad_rule);
        assert!(e.message.contains("no baseline rule \"flow-logs\""), "{}", e.message);
        assert!(e.help.as_deref().unwrap().contains("audit.vpc-flow-logs"), "{:?}", e.help);
        assert_eq!(e.line, line(&bad_rule, "flow-logs"));
        let bad_date = ok.replace("2027-03-31", "2027-02-30");
        let e = err(&bad_date);
        assert!(e.message.contains("`expires` must be a date"), "{}", e.message);
        assert_eq!(e.line, line(&bad_date, "2027-02-30"));
        let e = err(&ok.replace("the org's central flow logs cover this VPC", "ok"));
        assert!(e.message.contains("a waiver needs a reason"), "{}", e.message);
        let e = err(&ok.replace("expires", "until"));
        assert!(e.message.contains("unknown field `until`"), "{}", e.message);
    }

    #[test]
    fn a_brought_kms_key_must_be_a_key_arn_in_the_stacks_region() {
        assert_eq!(
            Stack::parse("s.toml", MINIMAL).unwrap().security.kms_key_arn,
            None,
            "the stack's own key by default"
        );
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let s = Stack::parse("s.toml", &format!("{MINIMAL}[security]\nkms_key_arn = \"{key}\"\n"))
            .unwrap();
        assert_eq!(s.security.kms_key_arn.as_deref(), Some(key));
        for (bad, why) in [
            ("arn:aws:kms:us-east-1:123456789012:alias/empi", "names no kms id after \"key/\""),
            (
                "arn:aws:kms:eu-west-1:123456789012:key/abc",
                "is in eu-west-1, but the stack is in us-east-1",
            ),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
                "is an ARN of secretsmanager, not of kms",
            ),
        ] {
            let e = err(&format!("{MINIMAL}[security]\nkms_key_arn = \"{bad}\"\n"));
            assert!(e.message.contains(why), "{bad}: {e}");
            assert_eq!(e.line, 9, "{e}");
            assert!(e.help.as_deref().unwrap().contains("not an alias"), "{e}");
        }
    }

    #[test]
    fn a_log_retention_cloudwatch_does_not_accept_is_refused_where_it_is_written() {
        let e = err(&format!("{MINIMAL}[security]\nlog_retention_days = 100\n"));
        assert_eq!(e.message, "`log_retention_days` is 100, which CloudWatch Logs does not accept as a retention period");
        assert!(e.help.as_deref().unwrap().ends_with("(e.g. 120)"), "{e}");
        assert_eq!((e.line, e.column), (9, 22), "{e}");
        let s = Stack::parse(
            "s.toml",
            &format!("{MINIMAL}[security]\nlog_retention_days = 2192\ncloudtrail = true\n"),
        )
        .unwrap();
        assert_eq!((s.security.log_retention_days, s.security.cloudtrail), (2192, true));
    }
}
