//! The baseline's rules, as data: id, what it asks, the §164.312 safeguard and the control ids it
//! stands for, the kind it reads, and the test. docs/SECURITY.md is the same table for people
//! (`crates/engine/tests/it/docs.rs` checks the two agree).
//!
//! Controls: `CIS x.y` is the CIS Amazon Web Services Foundations Benchmark v3.0.0; `FSBP X.n` is
//! AWS Security Hub's Foundational Security Best Practices standard.

use serde_json::Value;

use super::{unknown, Object, Source};
use crate::kinds::{cognito, eks, elb, k8s, kms, logs, network, rds, s3, secrets, waf};

/// One rule of the baseline.
pub struct Rule {
    /// Stable id, used in waivers (`[[security.waive]] rule = "…"`).
    pub id: &'static str,
    /// What must hold, as a reviewer reads it.
    pub title: &'static str,
    /// The HIPAA Security Rule standard or implementation specification.
    pub safeguard: &'static str,
    pub controls: &'static [&'static str],
    /// The resource kind the rule reads.
    pub kind: &'static str,
    /// Which addresses of that kind it reads (most: all).
    pub applies: fn(&str) -> bool,
    /// Fails when no resource of the kind exists (a flow log that is not there fails; a rule on
    /// the Cognito pool of a Keycloak stack does not apply).
    pub required: bool,
    /// With `required`: what the missing resource would be for.
    pub required_for: &'static str,
    /// Ok(evidence) or Err(evidence).
    pub test: fn(&Object, Source) -> Result<String, String>,
    pub fix: &'static str,
}

const ACCESS: &str = "§164.312(a)(1) Access control";
const ENCRYPTION: &str = "§164.312(a)(2)(iv) Encryption and decryption";
const AUDIT: &str = "§164.312(b) Audit controls";
const INTEGRITY: &str = "§164.312(c)(1) Integrity";
const AUTHENTICATION: &str = "§164.312(d) Person or entity authentication";
const TRANSMISSION: &str = "§164.312(e)(1) Transmission security";

fn all(_: &str) -> bool {
    true
}

fn show(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(not set)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => {
            let s = v.to_string();
            if s.len() > 120 {
                format!(
                    "{}…",
                    &s[..s
                        .char_indices()
                        .take_while(|(i, _)| *i < 117)
                        .last()
                        .map(|(i, c)| i + c.len_utf8())
                        .unwrap_or(0)]
                )
            } else {
                s
            }
        }
    }
}

/// `attr = value` for the evidence.
fn ev(o: &Object, attr: &str) -> String {
    format!("{attr} = {}", show(o.get(attr)))
}

/// A rule holding the pod templates of one workload kind to [`pod_hardening`].
const fn hardened_pods(
    id: &'static str,
    title: &'static str,
    kind: &'static str,
    fix: &'static str,
) -> Rule {
    Rule {
        id,
        title,
        safeguard: ACCESS,
        controls: &["Kubernetes Pod Security Standards (restricted)", "CIS EKS 4.2"],
        kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| pod_hardening(o),
        fix,
    }
}

/// What a workload's pod template lacks of the `restricted` Pod Security Standard, a read-only
/// root filesystem and limits; the evidence names each container's user and limits.
fn pod_hardening(o: &Object) -> Result<String, String> {
    let Some(pod) = o.get("manifest.spec.template.spec") else {
        return Err("no pod template".into());
    };
    let psc = &pod["securityContext"];
    let mut lacks = Vec::new();
    let mut seen = Vec::new();
    for c in pod["containers"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        let either = |k: &str| if sc[k].is_null() { psc[k].clone() } else { sc[k].clone() };
        let user = either("runAsUser");
        let seccomp = if sc["seccompProfile"].is_null() {
            &psc["seccompProfile"]
        } else {
            &sc["seccompProfile"]
        };
        let checks = [
            (either("runAsNonRoot") == Value::Bool(true) && user != 0, "runs as root"),
            (sc["allowPrivilegeEscalation"] == Value::Bool(false), "may escalate privileges"),
            (
                sc["capabilities"]["drop"].as_array().is_some_and(|d| d.iter().any(|x| x == "ALL")),
                "keeps capabilities",
            ),
            (
                matches!(seccomp["type"].as_str(), Some("RuntimeDefault" | "Localhost")),
                "no seccomp profile",
            ),
            (sc["readOnlyRootFilesystem"] == Value::Bool(true), "a writable root filesystem"),
            (
                !c["resources"]["limits"]["cpu"].is_null()
                    && !c["resources"]["limits"]["memory"].is_null(),
                "no CPU and memory limits",
            ),
        ];
        for (ok, why) in checks {
            if !ok {
                lacks.push(format!("{name}: {why}"));
            }
        }
        seen.push(format!(
            "{name}: user {}, limits {}/{}",
            show(Some(&user)),
            show(Some(&c["resources"]["limits"]["cpu"])),
            show(Some(&c["resources"]["limits"]["memory"]))
        ));
    }
    if seen.is_empty() {
        return Err("no containers".into());
    }
    if lacks.is_empty() {
        Ok(seen.join("; "))
    } else {
        Err(lacks.join("; "))
    }
}

fn verdict(ok: bool, evidence: String) -> Result<String, String> {
    if ok {
        Ok(evidence)
    } else {
        Err(evidence)
    }
}

fn is_true(o: &Object, attr: &str) -> bool {
    o.get(attr) == Some(&Value::Bool(true))
}

/// Set to something: a value, or (planned) a reference known after apply.
fn is_set(o: &Object, attr: &str) -> bool {
    match o.get(attr) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

fn strings(o: &Object, attr: &str) -> Vec<String> {
    o.get(attr)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn int(o: &Object, attr: &str) -> Option<i64> {
    match o.get(attr)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A bucket policy statement that denies every request not made over TLS.
fn denies_insecure_transport(policy: Option<&Value>) -> bool {
    let doc = match policy {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    };
    let Some(doc) = doc else { return false };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return false,
    };
    statements.iter().any(|s| {
        let deny = s.get("Effect").and_then(Value::as_str) == Some("Deny");
        let all_principals =
            s.get("Principal").is_some_and(|p| p == "*" || p.get("AWS").is_some_and(|a| a == "*"));
        let cond = s
            .pointer("/Condition/Bool/aws:SecureTransport")
            .is_some_and(|v| v == "false" || v == &Value::Bool(false));
        deny && all_principals && cond
    })
}

/// TLS policies of an ALB listener that allow TLS 1.2 and newer only (ELB's predefined policies).
pub const TLS12_POLICIES: &[&str] = &[
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
];

/// Every rule, in the order of §164.312.
pub static RULES: &[Rule] = &[
    // -- access control
    Rule {
        id: "access.database-not-public",
        title: "The database is not reachable from the internet",
        safeguard: ACCESS,
        controls: &["CIS 2.3.3", "FSBP RDS.2"],
        kind: rds::INSTANCE.kind,
        applies: all,
        required: true,
        required_for: "(Tuva EMPI's database)",
        test: |o, _| verdict(o.get(rds::Instance::publicly_accessible) == Some(&Value::Bool(false)), ev(o, rds::Instance::publicly_accessible)),
        fix: "set the instance's publicly_accessible to false (`empi-infra apply` does)",
    },
    Rule {
        id: "access.database-master-password-managed",
        title: "RDS keeps the database's master password in a secret of its own, encrypted with the stack's KMS key; the application connects as its own role",
        safeguard: ACCESS,
        controls: &["NIST 800-53 AC-6", "NIST 800-53 IA-5(7)"],
        kind: rds::INSTANCE.kind,
        applies: all,
        required: true,
        required_for: "(Tuva EMPI's database)",
        test: |o, _| {
            verdict(
                is_true(o, "manage_master_user_password") && is_set(o, "master_user_secret_kms_key_id"),
                format!("{}, {}", ev(o, "manage_master_user_password"), ev(o, "master_user_secret_kms_key_id")),
            )
        },
        fix: "have RDS manage the master password again (`empi-infra apply` does; the database-role Job then reads the new secret)",
    },
    Rule {
        id: "access.secret-age",
        title: "The generated database password and Django secret key are rotated within [security] max_secret_age_days",
        safeguard: ACCESS,
        controls: &["AWS FSBP SecretsManager.4", "Checkov CKV2_AWS_57"],
        kind: secrets::SECRET.kind,
        applies: all,
        required: false,
        required_for: "",
        test: secret_age,
        fix: "rotate them: `empi-infra rotate db-password` and `empi-infra rotate django-key` (docs/OPERATIONS.md says what each does to the running application); or waive the rule with a reviewer's reason",
    },
    Rule {
        id: "access.bucket-public-access-blocked",
        title: "The bucket blocks every form of public access",
        safeguard: ACCESS,
        controls: &["CIS 2.1.4", "FSBP S3.8"],
        kind: s3::BUCKET.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| verdict(is_true(o, s3::Bucket::block_public_access), ev(o, s3::Bucket::block_public_access)),
        fix: "turn the bucket's four public access block settings back on (`empi-infra apply` does)",
    },
    Rule {
        id: "access.node-metadata-imdsv2",
        title: "Nodes answer instance metadata only over IMDSv2, one hop away (pods use IRSA, never the node role)",
        safeguard: ACCESS,
        controls: &["CIS 5.6", "FSBP EC2.8"],
        kind: eks::LAUNCH_TEMPLATE.kind,
        applies: all,
        required: true,
        required_for: "(the nodes' launch template)",
        test: |o, _| {
            let ok = o.get("http_tokens").and_then(Value::as_str) == Some("required") && int(o, "http_put_response_hop_limit") == Some(1);
            verdict(ok, format!("{}, {}", ev(o, "http_tokens"), ev(o, "http_put_response_hop_limit")))
        },
        fix: "set http_tokens = \"required\" and http_put_response_hop_limit = 1 on the launch template (`empi-infra apply` does)",
    },
    Rule {
        id: "access.cluster-endpoint-restricted",
        title: "The cluster's API endpoint is private to the VPC, and its public side is not open to the whole internet",
        safeguard: ACCESS,
        controls: &["FSBP EKS.1"],
        kind: eks::CLUSTER.kind,
        applies: all,
        required: true,
        required_for: "(the EKS cluster)",
        test: |o, _| {
            let cidrs = strings(o, eks::Cluster::public_access_cidrs);
            let public = is_true(o, eks::Cluster::endpoint_public_access);
            let ok = is_true(o, eks::Cluster::endpoint_private_access) && !(public && cidrs.iter().any(|c| c == "0.0.0.0/0"));
            verdict(ok, format!("{}, {}, {}", ev(o, eks::Cluster::endpoint_private_access), ev(o, eks::Cluster::endpoint_public_access), ev(o, eks::Cluster::public_access_cidrs)))
        },
        fix: "set cluster.public_access_cidrs in the stack to your office / VPN / CI ranges, then `empi-infra apply`",
    },
    Rule {
        id: "access.namespace-pod-security",
        title: "The application's namespace enforces a Pod Security Standard (restricted; baseline where upstream's k8s job runner starts its pods)",
        safeguard: ACCESS,
        controls: &["Kubernetes Pod Security Standards"],
        kind: k8s::NAMESPACE.kind,
        applies: all,
        required: true,
        required_for: "(the application's namespace)",
        test: |o, _| {
            let path = "manifest.metadata.labels.pod-security.kubernetes.io/enforce";
            let level = o.get(path).and_then(Value::as_str).unwrap_or("");
            verdict(matches!(level, "restricted" | "baseline"), format!("label pod-security.kubernetes.io/enforce = {}", show(o.get(path))))
        },
        fix: "label the namespace pod-security.kubernetes.io/enforce=restricted (`empi-infra apply` does)",
    },
    hardened_pods(
        "access.pods-hardened",
        "The application's pods run as non-root with no privilege escalation, no capabilities, RuntimeDefault seccomp, a read-only root filesystem, and CPU and memory limits",
        k8s::DEPLOYMENT.kind,
        "`empi-infra apply` sets the pods' security context and limits; a manifest edited by hand is put back",
    ),
    hardened_pods(
        "access.job-pods-hardened",
        "The migrate job's pods are hardened as the application's pods are",
        k8s::JOB.kind,
        "`empi-infra apply` sets the pods' security context and limits",
    ),
    hardened_pods(
        "access.bootstrap-pod-hardened",
        "The one-time bootstrap job's pod is hardened as the application's pods are",
        k8s::JOB_ONCE.kind,
        "`empi-infra apply` sets the pods' security context and limits (the bootstrap job is not re-run)",
    ),
    Rule {
        id: "access.default-security-group-closed",
        title: "The VPC's default security group (which nothing uses) has no rules",
        safeguard: ACCESS,
        controls: &["CIS 5.4", "FSBP EC2.2"],
        kind: network::DEFAULT_SECURITY_GROUP.kind,
        applies: all,
        required: true,
        required_for: "(the VPC's default security group, taken over)",
        test: |o, _| {
            let empty = |a: &str| o.get(a).is_none_or(|v| v.as_array().is_some_and(|x| x.is_empty()));
            verdict(empty("ingress") && empty("egress"), format!("{}, {}", ev(o, network::DefaultSecurityGroup::ingress), ev(o, network::DefaultSecurityGroup::egress)))
        },
        fix: "remove the default group's rules (`empi-infra apply` does)",
    },
    // -- encryption at rest
    Rule {
        id: "encryption.key-rotation",
        title: "The stack's customer-managed KMS key rotates yearly",
        safeguard: ENCRYPTION,
        controls: &["CIS 3.6", "FSBP KMS.4"],
        kind: kms::KEY.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| verdict(is_true(o, kms::Key::enable_key_rotation), ev(o, kms::Key::enable_key_rotation)),
        fix: "turn automatic rotation back on for the key (`empi-infra apply` does)",
    },
    Rule {
        id: "encryption.database",
        title: "The database's storage is encrypted with the stack's KMS key",
        safeguard: ENCRYPTION,
        controls: &["CIS 2.3.1", "FSBP RDS.3"],
        kind: rds::INSTANCE.kind,
        applies: all,
        required: true,
        required_for: "(Tuva EMPI's database)",
        test: |o, _| {
            verdict(is_true(o, "storage_encrypted") && is_set(o, "kms_key_id"), format!("{}, {}", ev(o, "storage_encrypted"), ev(o, "kms_key_id")))
        },
        fix: "an RDS instance's encryption cannot be changed in place: restore a snapshot copy encrypted with the stack's key (docs/SECURITY.md)",
    },
    Rule {
        id: "encryption.cluster-secrets",
        title: "Kubernetes secrets are envelope-encrypted with the stack's KMS key",
        safeguard: ENCRYPTION,
        controls: &["FSBP EKS.3"],
        kind: eks::CLUSTER.kind,
        applies: all,
        required: true,
        required_for: "(the EKS cluster)",
        test: |o, _| verdict(is_set(o, eks::Cluster::encryption_key_arn), ev(o, eks::Cluster::encryption_key_arn)),
        fix: "associate the stack's KMS key with the cluster for secrets (`empi-infra apply` does; EKS cannot remove it again)",
    },
    Rule {
        id: "encryption.config-secret",
        title: "The configuration secret (database password, Django key) is encrypted with the stack's KMS key",
        safeguard: ENCRYPTION,
        controls: &["NIST 800-53 SC-28"],
        kind: secrets::SECRET.kind,
        applies: all,
        required: true,
        required_for: "(Tuva EMPI's configuration secret)",
        test: |o, _| verdict(is_set(o, "kms_key_id"), ev(o, "kms_key_id")),
        fix: "set the secret's KMS key back to the stack's key (`empi-infra apply` does)",
    },
    Rule {
        id: "encryption.bucket",
        title: "The bucket encrypts objects with KMS (SSE-KMS)",
        safeguard: ENCRYPTION,
        controls: &["FSBP S3.17"],
        kind: s3::BUCKET.kind,
        applies: is_storage_bucket,
        required: true,
        required_for: "(the import/export bucket)",
        test: |o, _| verdict(o.get(s3::Bucket::encryption).and_then(Value::as_str) == Some("aws:kms"), ev(o, s3::Bucket::encryption)),
        fix: "set the bucket's default encryption to SSE-KMS with the stack's key (`empi-infra apply` does)",
    },
    Rule {
        id: "encryption.log-groups",
        title: "Log groups are encrypted with the stack's KMS key",
        safeguard: ENCRYPTION,
        controls: &["NIST 800-53 SC-28"],
        kind: logs::LOG_GROUP.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| verdict(is_set(o, "kms_key_id"), ev(o, "kms_key_id")),
        fix: "associate the stack's KMS key with the log group (`empi-infra apply` does)",
    },
    // -- audit controls
    Rule {
        id: "audit.cluster-logs",
        title: "The cluster's control plane logs API, audit and authenticator events",
        safeguard: AUDIT,
        controls: &["FSBP EKS.8"],
        kind: eks::CLUSTER.kind,
        applies: all,
        required: true,
        required_for: "(the EKS cluster)",
        test: |o, _| {
            let types = strings(o, eks::Cluster::enabled_log_types);
            verdict(["api", "audit", "authenticator"].iter().all(|t| types.iter().any(|x| x == t)), ev(o, eks::Cluster::enabled_log_types))
        },
        fix: "enable the api, audit and authenticator log types on the cluster (`empi-infra apply` does)",
    },
    Rule {
        id: "audit.database-logs",
        title: "The database exports its PostgreSQL log, with connections and disconnections, to CloudWatch",
        safeguard: AUDIT,
        controls: &["FSBP RDS.9"],
        kind: rds::INSTANCE.kind,
        applies: all,
        required: true,
        required_for: "(Tuva EMPI's database)",
        test: |o, _| {
            let exports = strings(o, "enabled_cloudwatch_logs_exports");
            verdict(exports.iter().any(|e| e == "postgresql"), ev(o, "enabled_cloudwatch_logs_exports"))
        },
        fix: "export the postgresql log to CloudWatch (`empi-infra apply` does)",
    },
    Rule {
        id: "audit.database-connections-logged",
        title: "PostgreSQL logs every connection and disconnection",
        safeguard: AUDIT,
        controls: &["CIS PostgreSQL 3.1.20", "CIS PostgreSQL 3.1.21"],
        kind: rds::PARAMETER_GROUP.kind,
        applies: all,
        required: true,
        required_for: "(the database's parameter group)",
        test: |o, _| {
            let p = |k: &str| o.get(rds::ParameterGroup::parameters).and_then(|ps| ps.get(k)).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
            let (c, d) = (p("log_connections"), p("log_disconnections"));
            let ok = c.as_deref() == Some("1") && d.as_deref() == Some("1");
            verdict(ok, format!("log_connections = {}, log_disconnections = {}", c.as_deref().unwrap_or("(not set)"), d.as_deref().unwrap_or("(not set)")))
        },
        fix: "set log_connections = 1 and log_disconnections = 1 in the parameter group (`empi-infra apply` does)",
    },
    Rule {
        id: "audit.vpc-flow-logs",
        title: "The VPC's flow logs record all traffic",
        safeguard: AUDIT,
        controls: &["CIS 3.7", "FSBP EC2.6"],
        kind: logs::FLOW_LOG.kind,
        applies: all,
        required: true,
        required_for: "(flow logs of the stack's VPC)",
        test: |o, _| verdict(o.get("traffic_type").and_then(Value::as_str) == Some("ALL"), ev(o, "traffic_type")),
        fix: "create the VPC's flow log again with traffic_type ALL (`empi-infra apply` does)",
    },
    Rule {
        id: "audit.load-balancer-access-logs",
        title: "The load balancer writes access logs to the stack's log bucket",
        safeguard: AUDIT,
        controls: &["FSBP ELB.5"],
        kind: elb::LOAD_BALANCER.kind,
        applies: all,
        required: true,
        required_for: "(the internet-facing load balancer)",
        test: |o, _| verdict(is_set(o, elb::LoadBalancer::access_logs_bucket), ev(o, elb::LoadBalancer::access_logs_bucket)),
        fix: "turn the load balancer's access logs back on (`empi-infra apply` does)",
    },
    Rule {
        id: "audit.bucket-access-logs",
        title: "The import/export bucket's server access logs go to the stack's log bucket",
        safeguard: AUDIT,
        controls: &["FSBP S3.9"],
        kind: s3::BUCKET.kind,
        applies: is_storage_bucket,
        required: false,
        required_for: "",
        test: |o, _| verdict(is_set(o, "access_log_bucket"), ev(o, "access_log_bucket")),
        fix: "turn the bucket's server access logging back on (`empi-infra apply` does)",
    },
    Rule {
        id: "audit.log-retention",
        title: "Log groups keep their events at least a year (HIPAA documentation is kept six; export older logs to archive)",
        safeguard: AUDIT,
        controls: &["FSBP CloudWatch.16"],
        kind: logs::LOG_GROUP.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| verdict(int(o, logs::LogGroup::retention_in_days).is_some_and(|d| d >= 365), ev(o, logs::LogGroup::retention_in_days)),
        fix: "set [security] log_retention_days to 365 or more, then `empi-infra apply`",
    },
    Rule {
        id: "audit.waf-logs",
        title: "The web ACL logs the requests it inspects",
        safeguard: AUDIT,
        controls: &["FSBP WAF.11"],
        kind: waf::WEB_ACL_LOGGING.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| verdict(is_set(o, "log_destination_arn"), ev(o, "log_destination_arn")),
        fix: "restore the web ACL's logging configuration (`empi-infra apply` does)",
    },
    Rule {
        id: "audit.cloudtrail",
        title: "The stack's CloudTrail trail (when [security] cloudtrail = true) logs every region and validates its log files",
        safeguard: AUDIT,
        controls: &["CIS 3.1", "CIS 3.2", "FSBP CloudTrail.1", "FSBP CloudTrail.4"],
        kind: logs::TRAIL.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| {
            let ok = is_true(o, logs::Trail::is_multi_region_trail) && is_true(o, logs::Trail::enable_log_file_validation) && o.get(logs::Trail::enable_logging) != Some(&Value::Bool(false));
            verdict(ok, format!("{}, {}, {}", ev(o, logs::Trail::is_multi_region_trail), ev(o, logs::Trail::enable_log_file_validation), ev(o, logs::Trail::enable_logging)))
        },
        fix: "restore the trail (`empi-infra apply` does)",
    },
    // -- integrity
    Rule {
        id: "integrity.bucket-versioning",
        title: "The import/export bucket keeps object versions (an overwritten or deleted file can be recovered)",
        safeguard: INTEGRITY,
        controls: &["FSBP S3.14"],
        kind: s3::BUCKET.kind,
        applies: is_storage_bucket,
        required: false,
        required_for: "",
        test: |o, _| verdict(is_true(o, s3::Bucket::versioning), ev(o, s3::Bucket::versioning)),
        fix: "turn versioning back on for the bucket (`empi-infra apply` does)",
    },
    Rule {
        id: "integrity.database-backups",
        title: "The database keeps automated backups for at least 7 days and is protected from deletion",
        safeguard: INTEGRITY,
        controls: &["FSBP RDS.11", "FSBP RDS.8"],
        kind: rds::INSTANCE.kind,
        applies: all,
        required: true,
        required_for: "(Tuva EMPI's database)",
        test: |o, _| {
            let ok = int(o, "backup_retention_period").is_some_and(|d| d >= 7) && is_true(o, "deletion_protection");
            verdict(ok, format!("{}, {}", ev(o, "backup_retention_period"), ev(o, "deletion_protection")))
        },
        fix: "set database.backup_retention_days to 7 or more and database.deletion_protection = true, then `empi-infra apply`",
    },
    Rule {
        id: "integrity.load-balancer-deletion-protection",
        title: "The load balancer is protected from deletion (destroy lifts it first)",
        safeguard: INTEGRITY,
        controls: &["FSBP ELB.6"],
        kind: elb::LOAD_BALANCER.kind,
        applies: all,
        required: true,
        required_for: "(the internet-facing load balancer)",
        test: |o, _| verdict(is_true(o, elb::LoadBalancer::deletion_protection), ev(o, elb::LoadBalancer::deletion_protection)),
        fix: "turn the load balancer's deletion protection back on (`empi-infra apply` does)",
    },
    // -- authentication
    Rule {
        id: "authentication.mfa",
        title: "Users sign in with a second factor (TOTP): MFA is required",
        safeguard: AUTHENTICATION,
        controls: &["CIS Controls v8 6.3", "NIST 800-63B AAL2"],
        kind: cognito::USER_POOL.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| verdict(o.get(cognito::UserPool::mfa_configuration).and_then(Value::as_str) == Some("ON"), ev(o, cognito::UserPool::mfa_configuration)),
        fix: "set identity.mfa = \"required\" in the stack, then `empi-infra apply`",
    },
    Rule {
        id: "authentication.password-policy",
        title: "Passwords are at least 14 characters with upper and lower case, numbers and symbols",
        safeguard: AUTHENTICATION,
        controls: &["CIS 1.8 (by analogy: IAM passwords)", "NIST 800-63B 5.1.1"],
        kind: cognito::USER_POOL.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| {
            let p = |k: &str| o.get("password_policy").and_then(|pp| pp.get(k)).cloned();
            let ok = p("minimum_length").and_then(|v| v.as_i64()).is_some_and(|n| n >= 14)
                && ["require_uppercase", "require_lowercase", "require_numbers", "require_symbols"].iter().all(|k| p(k) == Some(Value::Bool(true)));
            verdict(ok, ev(o, "password_policy"))
        },
        fix: "restore the user pool's password policy (`empi-infra apply` does)",
    },
    Rule {
        id: "authentication.threat-protection",
        title: "Cognito threat protection blocks compromised credentials and risky sign-ins (enforced)",
        safeguard: AUTHENTICATION,
        controls: &["FSBP Cognito.1"],
        kind: cognito::USER_POOL.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| verdict(o.get(cognito::UserPool::advanced_security_mode).and_then(Value::as_str) == Some("ENFORCED"), ev(o, cognito::UserPool::advanced_security_mode)),
        fix: "set the user pool's threat protection back to ENFORCED (`empi-infra apply` does)",
    },
    // -- transmission security
    Rule {
        id: "transmission.bucket-tls-only",
        title: "The bucket refuses requests not made over TLS (aws:SecureTransport)",
        safeguard: TRANSMISSION,
        controls: &["CIS 2.1.1", "FSBP S3.5"],
        kind: s3::BUCKET.kind,
        applies: all,
        required: false,
        required_for: "",
        test: |o, _| {
            let ok = denies_insecure_transport(o.get(s3::Bucket::policy));
            verdict(ok, if ok { "policy denies aws:SecureTransport = false to every principal".into() } else { format!("policy = {}", show(o.get(s3::Bucket::policy))) })
        },
        fix: "restore the bucket policy's TLS-only statement (`empi-infra apply` does)",
    },
    Rule {
        id: "transmission.database-tls-only",
        title: "PostgreSQL accepts only TLS connections (rds.force_ssl)",
        safeguard: TRANSMISSION,
        controls: &["NIST 800-53 SC-8"],
        kind: rds::PARAMETER_GROUP.kind,
        applies: all,
        required: true,
        required_for: "(the database's parameter group)",
        test: |o, _| {
            let v = o.get("parameters").and_then(|p| p.get("rds.force_ssl")).cloned();
            verdict(v.as_ref().is_some_and(|v| v == "1" || v == 1), format!("rds.force_ssl = {}", show(v.as_ref())))
        },
        fix: "set rds.force_ssl = 1 in the parameter group (`empi-infra apply` does)",
    },
    Rule {
        id: "transmission.load-balancer-tls",
        title: "The load balancer serves HTTPS with a TLS 1.2+ policy and redirects HTTP to HTTPS",
        safeguard: TRANSMISSION,
        controls: &["FSBP ELB.1", "FSBP ELB.17"],
        kind: elb::LISTENER.kind,
        applies: all,
        required: true,
        required_for: "(the load balancer's listeners)",
        test: |o, source| {
            let protocol = o.get(elb::Listener::protocol).and_then(Value::as_str).unwrap_or("");
            if protocol == "HTTPS" {
                let p = o.get(elb::Listener::ssl_policy).and_then(Value::as_str).unwrap_or("");
                verdict(TLS12_POLICIES.contains(&p) || (source == Source::Planned && unknown(&Value::String(p.into()))), ev(o, elb::Listener::ssl_policy))
            } else {
                let redirect = o.get(elb::Listener::actions).and_then(Value::as_array).is_some_and(|a| {
                    !a.is_empty() && a.iter().all(|x| x.get("type").and_then(Value::as_str) == Some("redirect") && x.get("protocol").and_then(Value::as_str) == Some("HTTPS"))
                });
                verdict(redirect, format!("{} listener: actions = {}", protocol, show(o.get(elb::Listener::actions))))
            }
        },
        fix: "restore the listener (HTTPS with ELBSecurityPolicy-TLS13-1-2-2021-06; HTTP only redirecting to HTTPS) (`empi-infra apply` does)",
    },
    Rule {
        id: "transmission.drop-invalid-headers",
        title: "The load balancer drops HTTP headers that are not valid (request smuggling)",
        safeguard: TRANSMISSION,
        controls: &["FSBP ELB.4"],
        kind: elb::LOAD_BALANCER.kind,
        applies: all,
        required: true,
        required_for: "(the internet-facing load balancer)",
        test: |o, _| verdict(is_true(o, "drop_invalid_header_fields"), ev(o, "drop_invalid_header_fields")),
        fix: "set routing.http.drop_invalid_header_fields.enabled back to true (`empi-infra apply` does)",
    },
];

fn is_storage_bucket(address: &str) -> bool {
    address == "storage.bucket"
}

/// The day number (since 1970-01-01) of a time or date written RFC 3339 (`2026-12-06T14:30:00Z`)
/// or `YYYY-MM-DD`.
fn day_number(t: &str) -> Option<i64> {
    let day = t.get(..10)?;
    let at = humantime::parse_rfc3339(&format!("{day}T00:00:00Z")).ok()?;
    Some((at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() / 86_400) as i64)
}

/// `access.secret-age`: the config secret's tags say when each generated value was set.
fn secret_age(o: &Object, source: Source) -> Result<String, String> {
    use crate::stack::{TAG_DB_PASSWORD_SET, TAG_DJANGO_KEY_SET};
    let max = o.policy.max_secret_age_days as i64;
    let today = day_number(&o.policy.today);
    let tag = |k: &str| o.get("tags").and_then(|t| t.get(k)).and_then(Value::as_str);
    let (mut said, mut stale) = (Vec::new(), false);
    for (what, key) in
        [("db.password", TAG_DB_PASSWORD_SET), ("django.secret_key", TAG_DJANGO_KEY_SET)]
    {
        match (tag(key), source) {
            (None, Source::Planned) => said.push(format!("{what}: generated at the first apply")),
            (None, Source::Live) => {
                stale = true;
                said.push(format!(
                    "{what}: no tag {key}, so its age is unknown (`empi-infra apply` records it)"
                ));
            }
            (Some(at), _) => match (day_number(at), today) {
                (Some(set), Some(now)) => {
                    let age = now - set;
                    stale |= age > max;
                    said.push(format!("{what} set {at}, {age} days ago"));
                }
                _ => {
                    stale = true;
                    said.push(format!("{what}: tag {key} = {at:?} is not a time"));
                }
            },
        }
    }
    let evidence = format!("{} (at most {max} days)", said.join("; "));
    if stale {
        Err(evidence)
    } else {
        Ok(evidence)
    }
}
