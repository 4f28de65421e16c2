//! The stack file (`stacks/*.toml`): parsing with source spans, production defaults,
//! and validation whose every error names `file:line:column` and says how to fix it.
//!
//! [`RawStack`] mirrors the TOML with spans; [`Stack::load`] turns it into the resolved [`Stack`]
//! (defaults filled in, everything checked) that the rest of the engine uses.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// One problem in a stack file, located at `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  fix: {help}")?;
        }
        Ok(())
    }
}

/// All problems found in one stack file (validation reports every error, not only the first).
#[derive(Debug, Clone)]
pub struct StackErrors(pub Vec<StackError>);

impl fmt::Display for StackErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StackErrors {}

type S<T> = Spanned<T>;

// The `Raw*` types are what the parser deserializes, and `empi-infra schema` describes them
// (`crate::stack_schema`): their doc comments are the schema's descriptions, so they say the unit,
// the default and the allowed values. `deny_unknown_fields` is `additionalProperties: false`.

/// An empi-infra stack file: one Tuva EMPI deployment on AWS. Unknown keys are errors; docs/STACK.md
/// describes every key and `stacks/example-prod.toml` shows them all.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Stack")]
pub struct RawStack {
    /// The stack's name: 1 to 28 characters of a-z, 0-9 and '-', not starting or ending with '-',
    /// e.g. "tuva-empi-prod". It prefixes every AWS resource name, names the local state file
    /// (`state/<name>.json`) and is the default Cognito domain prefix. Required.
    #[schemars(with = "String", length(min = 1, max = 28), pattern(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    name: S<String>,
    /// The AWS region of every resource: one where EKS, RDS and Cognito are all available, e.g.
    /// "us-east-1". Required.
    #[schemars(with = "String", extend("enum" = REGIONS))]
    region: S<String>,
    /// Tags added to every taggable AWS resource, beside the `Name`, `empi-infra:stack` and
    /// `empi-infra:address` tags empi-infra sets. Keys: 1 to 128 characters, not starting with
    /// "aws:" or "empi-infra:"; values: at most 256 characters. Default: none.
    #[serde(default)]
    #[schemars(schema_with = "schema_tags")]
    tags: BTreeMap<String, S<String>>,
    /// Where the state (what empi-infra created, and its ids) lives. Default: a local file,
    /// `state/<name>.json` (the directory is `EMPI_INFRA_STATE_DIR`, default `state/`).
    #[serde(default)]
    #[schemars(with = "Option<RawState>")]
    state: Option<S<RawState>>,
    /// The VPC: address range, zones and NAT. Default: 10.40.0.0/16 over 2 zones with 1 NAT gateway.
    #[serde(default)]
    #[schemars(with = "Option<RawNetwork>")]
    network: Option<S<RawNetwork>>,
    /// The EKS cluster and its managed node group. Default: the newest EKS version, 2 to 4
    /// m6i.large nodes.
    #[serde(default)]
    #[schemars(with = "Option<RawCluster>")]
    cluster: Option<S<RawCluster>>,
    /// The RDS PostgreSQL database. Default: PostgreSQL 16 on db.t4g.medium, 50 GB, multi-AZ,
    /// 7 days of backups, deletion protection on.
    #[serde(default)]
    #[schemars(with = "Option<RawDatabase>")]
    database: Option<S<RawDatabase>>,
    /// Who signs users in: a Cognito user pool the stack builds (the default), or an existing
    /// Keycloak realm (docs/IDENTITY.md). Required, for `admin_email`.
    #[schemars(with = "RawIdentity")]
    identity: S<RawIdentity>,
    /// The Tuva EMPI application: version, hostname, certificate, replicas. Required, for
    /// `hostname` and `certificate_arn`.
    #[schemars(with = "RawApp")]
    app: S<RawApp>,
    /// The internet-facing ALB's protection. Default: a WAF with AWS's common rule set.
    #[serde(default)]
    #[schemars(with = "Option<RawEdge>")]
    edge: Option<S<RawEdge>>,
    /// The security baseline (docs/SECURITY.md): encryption with a key the organisation controls,
    /// audit logs (how long they are kept, whether the stack makes its own CloudTrail trail) and
    /// the failures of `empi-infra check` a reviewer waived. Default: the stack creates its own
    /// customer-managed KMS key (`alias/<name>`, rotation on), logs kept 365 days, no trail (most
    /// organisations have an organisation trail), no waivers.
    #[serde(default)]
    #[schemars(with = "Option<RawSecurity>")]
    security: Option<S<RawSecurity>>,
    /// What a scheduled `empi-infra drift` run must not report. Default: nothing ignored.
    #[serde(default)]
    #[schemars(with = "Option<RawDrift>")]
    drift: Option<S<RawDrift>>,
    /// Endpoints of a non-AWS target (the local cloud). Leave it out for AWS.
    #[serde(default)]
    #[schemars(with = "Option<RawTarget>")]
    target: Option<S<RawTarget>>,
    /// Deadlines by resource kind that replace the kind's defaults (docs/KINDS.md lists the kinds
    /// and their defaults), e.g. `[timeouts.aws_db_instance] create = "90m"`. Default: none.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawTimeouts>")]
    timeouts: BTreeMap<String, S<RawTimeouts>>,
}

/// Deadlines of one resource kind's operations, waits included. Each is a duration such as
/// "90m", "45s" or "1h 30m", from 10s to 24h; a key left out keeps the kind's default.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Timeouts")]
struct RawTimeouts {
    /// How long creating one resource of the kind may take (a duration, 10s to 24h).
    #[schemars(with = "Option<String>")]
    create: Option<S<String>>,
    /// How long updating one resource of the kind may take (a duration, 10s to 24h).
    #[schemars(with = "Option<String>")]
    update: Option<S<String>>,
    /// How long deleting one resource of the kind may take (a duration, 10s to 24h).
    #[schemars(with = "Option<String>")]
    delete: Option<S<String>>,
}

/// Where the state lives (docs/STATE.md).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "State")]
struct RawState {
    /// "local": a file `state/<name>.json` beside a lock file; "s3": an object in S3 (needs `bucket`
    /// and `key`), locked by a conditional write, shared by a team. Default: "local".
    #[schemars(with = "Option<String>", extend("enum" = ["local", "s3"], "default" = "local"))]
    backend: Option<S<String>>,
    /// S3 only, required there: the bucket that holds the state object.
    #[schemars(with = "Option<String>")]
    bucket: Option<S<String>>,
    /// S3 only, required there: the state object's key, e.g. "tuva-empi/prod.json" (the backup is
    /// `<key>.backup`, the lock `<key>.lock`).
    #[schemars(with = "Option<String>")]
    key: Option<S<String>>,
    /// S3 only: the bucket's region. Default: the stack's `region`.
    #[schemars(with = "Option<String>")]
    region: Option<S<String>>,
    /// S3 only: the KMS key (id, ARN or alias, e.g. "alias/empi-state") the state object is
    /// encrypted with. Default: SSE-S3 (AES256).
    #[schemars(with = "Option<String>")]
    kms_key_id: Option<S<String>>,
}

/// The VPC: a public and a private subnet per availability zone, NAT, VPC endpoints.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Network")]
struct RawNetwork {
    /// The VPC's IPv4 address range: a network address with a prefix from /16 to /24; the subnets
    /// are its /+4 blocks. Default: "10.40.0.0/16".
    #[schemars(with = "Option<String>", extend("default" = "10.40.0.0/16"))]
    cidr: Option<S<String>>,
    /// How many availability zones the stack spans: 2 or 3. Default: 2, or the number of `zones`.
    #[schemars(with = "Option<i64>", range(min = 2, max = 3), extend("default" = 2))]
    availability_zones: Option<S<i64>>,
    /// NAT gateways: 1 (cheaper; the zones share it) or one per availability zone. Default: 1.
    #[schemars(with = "Option<i64>", range(min = 1, max = 3), extend("default" = 1))]
    nat_gateways: Option<S<i64>>,
    /// The availability zones by name, e.g. ["us-east-1a", "us-east-1b"]: zones of the stack's
    /// region, each once, as many as `availability_zones`. Default: chosen from the account's at
    /// the first plan (available, needing no opt-in, taken by EKS) and recorded in state.
    #[schemars(with = "Option<Vec<String>>")]
    zones: Option<S<Vec<S<String>>>>,
}

/// The EKS cluster.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cluster")]
struct RawCluster {
    /// The Kubernetes version, e.g. "1.33": one EKS still creates clusters on (`validate` refuses a
    /// version past extended support; `plan` warns about one in extended support, 6x the
    /// control-plane price). Default: the newest EKS version.
    #[schemars(with = "Option<String>")]
    kubernetes_version: Option<S<String>>,
    /// IPv4 CIDR blocks allowed to reach the cluster's public API endpoint. Default: ["0.0.0.0/0"].
    #[schemars(with = "Option<Vec<String>>", extend("default" = ["0.0.0.0/0"]))]
    public_access_cidrs: Option<S<Vec<S<String>>>>,
    /// The managed node group.
    #[schemars(with = "Option<RawNodes>")]
    nodes: Option<S<RawNodes>>,
    /// ARNs of IAM roles or users given cluster-admin through EKS access entries, e.g.
    /// "arn:aws:iam::123456789012:role/platform-admins". Default: none.
    #[schemars(with = "Option<Vec<String>>", extend("default" = []))]
    admins: Option<S<Vec<S<String>>>>,
}

/// The EKS managed node group; node counts must satisfy min <= desired <= max.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Nodes")]
struct RawNodes {
    /// EC2 instance types of the nodes, all of one architecture: Graviton types (m7g, c7g, t4g…)
    /// get the ARM AMI, the others the x86 one. At least one. Default: ["m6i.large"].
    #[schemars(with = "Option<Vec<String>>", length(min = 1), extend("default" = ["m6i.large"]))]
    instance_types: Option<S<Vec<S<String>>>>,
    /// The fewest nodes (0 to 450). Default: 2.
    #[schemars(with = "Option<i64>", range(min = 0, max = 450), extend("default" = 2))]
    min: Option<S<i64>>,
    /// The most nodes (1 to 450). Default: 4.
    #[schemars(with = "Option<i64>", range(min = 1, max = 450), extend("default" = 4))]
    max: Option<S<i64>>,
    /// The nodes wanted now (0 to 450). Default: 2 (at least `min`, at most `max`).
    #[schemars(with = "Option<i64>", range(min = 0, max = 450), extend("default" = 2))]
    desired: Option<S<i64>>,
}

/// The RDS PostgreSQL database (encrypted, private, TLS only).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Database")]
struct RawDatabase {
    /// The PostgreSQL version: a major version (AWS picks and upgrades the minor) or a full version
    /// RDS offers. Tuva EMPI needs 16 or newer. Default: "16".
    #[schemars(with = "Option<String>", extend("enum" = schema_engine_versions(), "default" = "16"))]
    engine_version: Option<S<String>>,
    /// The RDS instance class, e.g. "db.t4g.medium", "db.m7g.large" or "db.r7g.large". Default:
    /// "db.t4g.medium".
    #[schemars(with = "Option<String>", extend("enum" = DB_INSTANCE_CLASSES, "default" = "db.t4g.medium"))]
    instance_class: Option<S<String>>,
    /// Storage in GB (gibibytes), 20 to 65536. Default: 50.
    #[schemars(with = "Option<i64>", range(min = 20, max = 65536), extend("default" = 50))]
    allocated_storage_gb: Option<S<i64>>,
    /// A standby in a second zone that RDS fails over to. Default: true.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    multi_az: Option<S<bool>>,
    /// Days automated backups are kept, 1 to 35. Default: 7.
    #[schemars(with = "Option<i64>", range(min = 1, max = 35), extend("default" = 7))]
    backup_retention_days: Option<S<i64>>,
    /// Whether RDS refuses to delete the database; `destroy` stops at a protected database and
    /// says how to lift it. Default: true.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    deletion_protection: Option<S<bool>>,
}

/// Who signs users in (docs/IDENTITY.md). The keys of the provider not chosen are errors.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Identity")]
struct RawIdentity {
    /// "cognito": a Cognito user pool the stack builds, with its hosted UI; "keycloak": an existing
    /// Keycloak realm (needs `server_url`, `realm`, `client_id`, `client_secret_arn`). Default:
    /// "cognito".
    #[schemars(with = "Option<String>", extend("enum" = ["cognito", "keycloak"], "default" = "cognito"))]
    provider: Option<S<String>>,
    /// The initial administrator's email address, e.g. "admin@example.org". Cognito: created in the
    /// pool; Keycloak: must be exactly one user's email (`plan` checks). Required.
    #[schemars(with = "String")]
    admin_email: S<String>,
    // cognito
    /// Cognito only: the hosted-UI domain prefix: a-z, 0-9 and '-', at most 63 characters, without
    /// "aws" or "cognito". Default: the stack's name.
    #[schemars(with = "Option<String>")]
    domain_prefix: Option<S<String>>,
    /// Cognito only: multi-factor sign-in with an authenticator app (TOTP). "required": every user
    /// sets one up at first sign-in; "optional": users may; "off": passwords alone. Default:
    /// "required" (a system holding PHI).
    #[schemars(with = "Option<String>", extend("enum" = ["off", "optional", "required"], "default" = "required"))]
    mfa: Option<S<String>>,
    // keycloak
    /// Keycloak only, required there: the server's https:// base address, without /realms/...,
    /// e.g. "https://sso.example.org" (http:// only on a loopback address).
    #[schemars(with = "Option<String>")]
    server_url: Option<S<String>>,
    /// Keycloak only, required there: the realm's name, e.g. "tuva".
    #[schemars(with = "Option<String>")]
    realm: Option<S<String>>,
    /// Keycloak only, required there: the id of the realm's confidential client that Tuva EMPI and
    /// the ALB use, e.g. "tuva-empi".
    #[schemars(with = "Option<String>")]
    client_id: Option<S<String>>,
    /// Keycloak only, required there: the ARN of the Secrets Manager secret holding the client's
    /// secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>); the secret itself never
    /// reaches the stack, state or plan.
    #[schemars(with = "Option<String>")]
    client_secret_arn: Option<S<String>>,
    /// Keycloak only: the audience Tuva EMPI requires in access tokens. Default: "account" (what
    /// Keycloak puts there without an audience mapper).
    #[schemars(with = "Option<String>", length(min = 1), extend("default" = "account"))]
    jwt_aud: Option<S<String>>,
}

/// The Tuva EMPI application on the cluster, behind the ALB.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "App")]
struct RawApp {
    /// The image tag of both Tuva EMPI images: a release tag ("v0.1.0") or the commit SHA of a main
    /// image. It decides the workloads and config (docs/TUVA.md); `plan` refuses a downgrade or a
    /// skipped release unless told. Default: "v0.1.0".
    #[schemars(with = "Option<String>", extend("default" = "v0.1.0"))]
    version: Option<S<String>>,
    /// The Kubernetes namespace of the workloads: a-z, 0-9 and '-', at most 63 characters.
    /// Default: "tuva-empi".
    #[schemars(with = "Option<String>", pattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"), extend("default" = "tuva-empi"))]
    namespace: Option<S<String>>,
    /// The DNS name users open, e.g. "empi.example.org". Required.
    #[schemars(with = "String")]
    hostname: S<String>,
    /// The ARN of the ACM certificate for `hostname`, in the stack's region:
    /// arn:aws:acm:<region>:<account>:certificate/<id>. Required.
    #[schemars(with = "String")]
    certificate_arn: S<String>,
    /// Replicas of the api Deployment, 1 to 100. Default: 2.
    #[schemars(with = "Option<i64>", range(min = 1, max = 100), extend("default" = 2))]
    api_replicas: Option<S<i64>>,
    /// Replicas of the frontend Deployment, 1 to 100. Default: 2.
    #[schemars(with = "Option<i64>", range(min = 1, max = 100), extend("default" = 2))]
    frontend_replicas: Option<S<i64>>,
    /// Where matching jobs run: "process" (inside the matching service) or "k8s" (as Kubernetes
    /// Jobs; needs a version with upstream's Kubernetes job runner). Default: "process".
    #[schemars(with = "Option<String>", extend("enum" = ["process", "k8s"], "default" = "process"))]
    matching_job_runner: Option<S<String>>,
    /// With `matching_job_runner = "k8s"`: the namespace the jobs run in. Default: the app's
    /// namespace where the version supports it, else "default".
    #[schemars(with = "Option<String>")]
    matching_job_namespace: Option<S<String>>,
    /// How long a Deployment rollout or Job may make no progress before the apply fails (a
    /// duration, 30s to 6h, e.g. "10m" or "1h 30m"). Default: "10m".
    #[schemars(with = "Option<String>", extend("default" = "10m"))]
    rollout_timeout: Option<S<String>>,
}

/// The internet-facing ALB's protection.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Edge")]
struct RawEdge {
    /// A WAF web ACL with AWS's managed common rule set in front of the ALB. Default: true.
    #[schemars(with = "Option<bool>", extend("default" = true))]
    waf: Option<S<bool>>,
}

/// The security baseline's settings (docs/SECURITY.md, docs/STACK.md `[security]`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Security")]
struct RawSecurity {
    /// The ARN of an existing customer-managed KMS key in the stack's region, e.g.
    /// "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", to encrypt
    /// the stack with instead of a key of its own. Its key policy must let the stack's cluster
    /// role and the account's EKS, RDS, Secrets Manager, S3 and CloudWatch Logs use it
    /// (docs/STACK.md). Default: the stack creates and owns its key.
    #[schemars(with = "Option<String>", pattern(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$"))]
    kms_key_arn: Option<S<String>>,
    /// Failures of `empi-infra check` a reviewer accepted, each until a date:
    /// `[[security.waive]] rule = "audit.vpc-flow-logs", reason = "…", expires = "2027-03-31"`.
    /// An expired waiver fails the rule again. Default: none.
    #[schemars(with = "Option<Vec<RawWaiver>>", extend("default" = []))]
    waive: Option<Vec<S<RawWaiver>>>,
    /// Days every log the stack keeps is retained: the CloudWatch log groups (EKS control plane,
    /// PostgreSQL, VPC flow logs, WAF) and the log bucket's objects (ALB and S3 access logs, the
    /// trail). One of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180,
    /// 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653. Default: 365.
    #[schemars(with = "Option<i64>", extend("enum" = LOG_RETENTION_DAYS, "default" = 365))]
    log_retention_days: Option<S<i64>>,
    /// A multi-region CloudTrail trail of the account's management events, written to the stack's
    /// log bucket with log file validation. Most organisations already have an organisation trail
    /// (AWS Organizations), which covers this account; turn it on only when none does. Default: false.
    #[schemars(with = "Option<bool>", extend("default" = false))]
    cloudtrail: Option<S<bool>>,
    /// Whether `destroy` may delete logs: the log bucket's objects and log groups that hold log
    /// data. Logs are audit evidence, so by default `destroy` stops at them and says how to archive
    /// them; set it to true and run `apply` before a `destroy` that should take them too. Default: false.
    #[schemars(with = "Option<bool>", extend("default" = false))]
    force_destroy_logs: Option<S<bool>>,
}

/// One accepted failure of a baseline rule.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Waiver")]
struct RawWaiver {
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

/// Scheduled drift detection (docs/DRIFT.md).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Drift")]
struct RawDrift {
    /// Addresses (`cluster.nodes`) or address.attribute paths
    /// (`workloads.frontend.manifest.spec.replicas`) that `drift` does not report. Default: none.
    #[schemars(with = "Option<Vec<String>>", extend("default" = []))]
    ignore: Option<S<Vec<S<String>>>>,
}

/// Endpoints of a non-AWS target, such as the local cloud; environment variables win over them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Target")]
struct RawTarget {
    /// An http:// or https:// AWS endpoint for every service, e.g. "http://127.0.0.1:4566";
    /// `AWS_ENDPOINT_URL` wins over it. Default: AWS itself.
    #[schemars(with = "Option<String>", pattern(r"^https?://"))]
    aws_endpoint_url: Option<S<String>>,
    /// A kubeconfig file to reach the cluster with, instead of the EKS endpoint;
    /// `EMPI_INFRA_KUBECONFIG` wins over it. Default: the EKS cluster itself.
    #[schemars(with = "Option<String>")]
    kubeconfig: Option<S<String>>,
}

/// A resolved, validated stack: every default filled in.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stack {
    pub name: String,
    pub region: String,
    pub tags: BTreeMap<String, String>,
    pub state: StateConfig,
    pub network: NetworkConfig,
    pub cluster: ClusterConfig,
    pub database: DatabaseConfig,
    pub identity: IdentityConfig,
    pub app: AppConfig,
    pub edge: EdgeConfig,
    pub drift: DriftConfig,
    pub security: SecurityConfig,
    pub target: TargetConfig,
    /// Timeouts by resource kind that replace the kinds' defaults (`[timeouts.aws_eks_cluster]`).
    pub timeouts: BTreeMap<String, crate::resource::Timeouts>,
    /// The file this stack was read from (for messages and for relative paths).
    #[serde(skip)]
    pub path: PathBuf,
    /// sha256 of the file's bytes: saved plans carry it.
    pub digest: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StateConfig {
    Local,
    S3 { bucket: String, key: String, region: String, kms_key_id: Option<String> },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NetworkConfig {
    pub cidr: String,
    pub availability_zones: u8,
    pub nat_gateways: u8,
    /// The zones' names: pinned by the stack, or chosen from the account's (see `crate::zones`).
    /// Empty until chosen; the blueprint then shows placeholders.
    pub zones: Vec<String>,
    /// Whether the stack pinned `zones` itself.
    pub zones_pinned: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterConfig {
    pub kubernetes_version: String,
    pub public_access_cidrs: Vec<String>,
    pub nodes: NodesConfig,
    /// IAM principals (role or user ARNs) given cluster-admin access through EKS access entries.
    pub admins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodesConfig {
    pub instance_types: Vec<String>,
    /// The EKS AMI type the instance types need (Graviton types need the ARM one).
    pub ami_type: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatabaseConfig {
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage_gb: u32,
    pub multi_az: bool,
    pub backup_retention_days: u32,
    pub deletion_protection: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IdentityConfig {
    /// The initial administrator; Tuva's bootstrap looks them up by this address.
    pub admin_email: String,
    pub provider: IdentityProvider,
}

/// Who signs users in: a Cognito user pool the stack builds, or the organisation's Keycloak realm.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum IdentityProvider {
    Cognito { domain_prefix: String, mfa: Mfa },
    Keycloak(KeycloakConfig),
}

/// Whether a Cognito pool's users sign in with a second factor (an authenticator app's TOTP code).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mfa {
    Off,
    Optional,
    Required,
}

impl Mfa {
    /// Cognito's `MfaConfiguration`.
    pub fn cognito(self) -> &'static str {
        match self {
            Mfa::Off => "OFF",
            Mfa::Optional => "OPTIONAL",
            Mfa::Required => "ON",
        }
    }
}

/// A Keycloak realm and the confidential client Tuva EMPI and the ALB use.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeycloakConfig {
    /// Without a trailing slash.
    pub server_url: String,
    pub realm: String,
    pub client_id: String,
    /// The Secrets Manager secret (owned by the user) holding the client secret.
    pub client_secret_arn: String,
    /// The audience Tuva requires in access tokens.
    pub jwt_aud: String,
    /// The realm's OpenID endpoints: Keycloak's standard paths until the discovery document is read
    /// (`plan` and `apply` read it and use what it says).
    pub endpoints: OidcEndpoints,
    /// The Secrets Manager version id of the client secret (not the secret): once known, a rotated
    /// secret is a change of the ALB's action, which AWS never shows.
    pub client_secret_version: Option<String>,
}

/// The endpoints of an OpenID Connect discovery document that the ALB and Tuva use.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct OidcEndpoints {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
}

/// What Keycloak puts in `aud` of an access token when the client has no audience mapper: its
/// default client scopes map the `account` client's roles, so `aud` is `"account"` (upstream's own
/// Keycloak example config uses it).
pub const KEYCLOAK_DEFAULT_AUD: &str = "account";

impl OidcEndpoints {
    /// Keycloak's standard endpoints of `realm` on `server_url`.
    pub fn keycloak(server_url: &str, realm: &str) -> OidcEndpoints {
        let issuer = format!("{}/realms/{realm}", server_url.trim_end_matches('/'));
        let p = |x: &str| format!("{issuer}/protocol/openid-connect/{x}");
        OidcEndpoints {
            authorization_endpoint: p("auth"),
            token_endpoint: p("token"),
            userinfo_endpoint: p("userinfo"),
            jwks_uri: p("certs"),
            issuer,
        }
    }
}

impl IdentityConfig {
    /// The Cognito pool's MFA setting (`None` with Keycloak, whose realm decides).
    pub fn cognito_mfa(&self) -> Option<Mfa> {
        match &self.provider {
            IdentityProvider::Cognito { mfa, .. } => Some(*mfa),
            IdentityProvider::Keycloak(_) => None,
        }
    }

    pub fn cognito_domain_prefix(&self) -> Option<&str> {
        match &self.provider {
            IdentityProvider::Cognito { domain_prefix, .. } => Some(domain_prefix),
            IdentityProvider::Keycloak(_) => None,
        }
    }

    pub fn keycloak(&self) -> Option<&KeycloakConfig> {
        match &self.provider {
            IdentityProvider::Keycloak(k) => Some(k),
            IdentityProvider::Cognito { .. } => None,
        }
    }

    /// `"cognito"` or `"keycloak"`.
    pub fn provider_name(&self) -> &'static str {
        match &self.provider {
            IdentityProvider::Cognito { .. } => "cognito",
            IdentityProvider::Keycloak(_) => "keycloak",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppConfig {
    pub version: String,
    pub namespace: String,
    pub hostname: String,
    pub certificate_arn: String,
    pub api_replicas: u32,
    pub frontend_replicas: u32,
    pub matching_job_runner: String,
    /// Where the k8s runner's matching jobs run (only used with `matching_job_runner = "k8s"`).
    pub matching_job_namespace: String,
    /// How long a rollout or job may make no progress before the apply fails.
    pub rollout_timeout_secs: u32,
    /// What the Tuva EMPI version can do (`crate::tuva`).
    pub tuva: crate::tuva::TuvaVersion,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EdgeConfig {
    pub waf: bool,
}

/// The retention periods CloudWatch Logs accepts (`PutRetentionPolicy`'s `retentionInDays`; any
/// other value is an `InvalidParameterException`).
pub const LOG_RETENTION_DAYS: &[i64] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
/// Logs are kept a year unless the stack says otherwise.
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 365;

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct DriftConfig {
    pub ignore: Vec<String>,
}

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
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            kms_key_arn: None,
            waivers: Vec::new(),
            log_retention_days: DEFAULT_LOG_RETENTION_DAYS,
            cloudtrail: false,
            force_destroy_logs: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TargetConfig {
    pub aws_endpoint_url: Option<String>,
    pub kubeconfig: Option<String>,
}

/// RDS PostgreSQL versions empi-infra accepts: major versions, and the minors RDS offers in them.
/// (moto does not validate versions, so this table is the check.)
pub const POSTGRES_VERSIONS: &[(&str, &[&str])] = &[
    ("16", &["16.1", "16.2", "16.3", "16.4", "16.5", "16.6", "16.8", "16.9", "16.10"]),
    ("17", &["17.1", "17.2", "17.4", "17.5", "17.6"]),
];

/// DB instance classes RDS offers for PostgreSQL 16+ that suit Tuva EMPI.
pub const DB_INSTANCE_CLASSES: &[&str] = &[
    "db.t3.micro",
    "db.t3.small",
    "db.t3.medium",
    "db.t3.large",
    "db.t3.xlarge",
    "db.t3.2xlarge",
    "db.t4g.micro",
    "db.t4g.small",
    "db.t4g.medium",
    "db.t4g.large",
    "db.t4g.xlarge",
    "db.t4g.2xlarge",
    "db.m5.large",
    "db.m5.xlarge",
    "db.m5.2xlarge",
    "db.m5.4xlarge",
    "db.m6g.large",
    "db.m6g.xlarge",
    "db.m6g.2xlarge",
    "db.m6g.4xlarge",
    "db.m6i.large",
    "db.m6i.xlarge",
    "db.m6i.2xlarge",
    "db.m6i.4xlarge",
    "db.m7g.large",
    "db.m7g.xlarge",
    "db.m7g.2xlarge",
    "db.m7g.4xlarge",
    "db.r5.large",
    "db.r5.xlarge",
    "db.r5.2xlarge",
    "db.r6g.large",
    "db.r6g.xlarge",
    "db.r6g.2xlarge",
    "db.r6i.large",
    "db.r6i.xlarge",
    "db.r6i.2xlarge",
    "db.r7g.large",
    "db.r7g.xlarge",
    "db.r7g.2xlarge",
];

/// AWS regions (commercial partition) where every service of the stack exists.
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "sa-east-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "il-central-1",
];

/// A real calendar date written YYYY-MM-DD.
fn valid_date(s: &str) -> bool {
    crate::env::date_problem(s).is_none() && s >= "2000"
}

/// Maps byte offsets of one file to 1-based line and column.
struct Locator<'a> {
    file: &'a str,
    src: &'a str,
}

impl Locator<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> StackError {
        let offset = span.start.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        let help = help.into();
        StackError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
            help: if help.is_empty() { None } else { Some(help) },
        }
    }
}

impl Stack {
    /// What `plan` warns about in the stack itself: settings that are valid but weaker than a
    /// PHI baseline wants.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.cluster.public_access_cidrs.iter().any(|c| c == "0.0.0.0/0") {
            w.push(
                "the cluster's public API endpoint accepts any address (`cluster.public_access_cidrs` holds \"0.0.0.0/0\", the default); \
                 it still needs IAM authentication and an access entry, but list only the networks kubectl users come from, \
                 e.g. public_access_cidrs = [\"203.0.113.0/24\"] (the nodes use the private endpoint, which is always on)"
                    .to_string(),
            );
        }
        if self.identity.cognito_mfa() == Some(Mfa::Off) {
            w.push("Cognito users sign in with a password alone (`identity.mfa = \"off\"`); a system holding PHI should require a second factor (\"required\")".to_string());
        }
        w
    }

    /// Reads, parses and validates a stack file.
    /// Only a regular file of at most [`STACK_FILE_LIMIT`] bytes is read: a FIFO or a device
    /// (`--stack /dev/zero`) is refused at once rather than waited on or read until memory runs out.
    pub fn load(path: &Path) -> Result<Stack, StackErrors> {
        let shown = path.display().to_string();
        let src = crate::input::read_regular_text(path, STACK_FILE_LIMIT).map_err(|e| {
            let help = match e {
                crate::input::InputError::Io(_) => "pass an existing file with --stack PATH (or set EMPI_INFRA_STACK)",
                _ => "pass the stack file itself, a TOML file such as stacks/prod.toml, with --stack PATH (or set EMPI_INFRA_STACK)",
            };
            StackErrors(vec![StackError {
                file: shown.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read the stack file: {e}"),
                help: Some(help.into()),
            }])
        })?;
        let mut stack = Stack::parse(&shown, &src)?;
        stack.path = path.to_path_buf();
        Ok(stack)
    }

    /// Parses and validates stack source text; `file` is used in messages only.
    pub fn parse(file: &str, src: &str) -> Result<Stack, StackErrors> {
        let loc = Locator { file, src };
        let raw: RawStack = toml::from_str(src).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().replace('\n', " ");
            let help = if msg.starts_with("unknown field") {
                "remove the key or correct its spelling (see docs/STACK.md for every key)"
            } else if msg.starts_with("missing field") {
                "add the key; docs/STACK.md lists the required ones"
            } else {
                "see docs/STACK.md for the key's type and allowed values"
            };
            StackErrors(vec![loc.at(span, msg, help)])
        })?;
        let mut v = Validator { loc: &loc, errors: Vec::new() };
        let stack = v.resolve(raw, src);
        if v.errors.is_empty() {
            Ok(stack)
        } else {
            Err(StackErrors(v.errors))
        }
    }

    /// Tags for every taggable resource: the stack's own plus the ones empi-infra finds resources by.
    pub fn resource_tags(&self, address: &str, physical_name: &str) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert("Name".into(), physical_name.to_string());
        tags.insert(TAG_STACK.into(), self.name.clone());
        tags.insert(TAG_REGION.into(), self.region.clone());
        tags.insert(TAG_ADDRESS.into(), address.to_string());
        tags
    }
}

/// AWS's limit of tags on one resource (EC2, RDS, IAM, ELB, Secrets Manager, Cognito alike).
pub const MAX_TAGS: usize = 50;
/// The tags empi-infra puts on every resource itself (`Stack::resource_tags`).
pub const OWN_TAGS: &[&str] = &["Name", TAG_STACK, TAG_REGION, TAG_ADDRESS];

/// Whether AWS accepts `c` in a tag key or value: letters, digits, spaces and `_ . : / = + - @`
/// (the pattern `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$` of the tagging APIs).
fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}
/// The largest stack file read, in bytes (a stack file is a few kilobytes).
pub const STACK_FILE_LIMIT: u64 = 1 << 20;

/// Tag naming the stack that owns a resource.
pub const TAG_STACK: &str = "empi-infra:stack";
/// Tag naming the region of the stack that owns a resource: with the stack's name, its identity
/// (IAM roles and bucket names are global: a same-named stack in another region must not take them).
pub const TAG_REGION: &str = "empi-infra:region";
/// Tag naming the resource address, so a resource is found again after a crash.
pub const TAG_ADDRESS: &str = "empi-infra:address";

struct Validator<'a> {
    loc: &'a Locator<'a>,
    errors: Vec<StackError>,
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| is_dns_label(&l.to_ascii_lowercase()) && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// Why a Keycloak server URL is not acceptable: it must be `https://`, except on a loopback
/// address (the local cloud and tests), and name no path under `/realms`.
fn check_server_url(url: &str) -> Result<(), &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("is not a URL")?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err("names no host");
    }
    if rest.contains("/realms/") || rest.ends_with("/realms") {
        return Err("includes the realm path; the realm goes in `realm`");
    }
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false);
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("is not https://; the ALB and Tuva EMPI exchange tokens and client secrets with it"),
        _ => Err("is not an https:// URL"),
    }
}

/// Why Cognito would refuse `prefix` as a hosted UI domain prefix, if it would: a DNS label of
/// a-z, 0-9 and '-', without the reserved words "aws", "amazon" and "cognito".
fn domain_prefix_problem(prefix: &str) -> Option<&'static str> {
    if !is_dns_label(prefix) {
        Some("must be 1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'")
    } else if ["aws", "amazon", "cognito"].iter().any(|w| prefix.contains(w)) {
        Some("contains one of the words Cognito reserves (\"aws\", \"amazon\", \"cognito\")")
    } else {
        None
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && !local.contains(char::is_whitespace)
        && !domain.contains('@')
        && is_hostname(&domain.to_ascii_lowercase())
}

/// The most instance types an EKS managed node group takes (CreateNodegroup's `instanceTypes`:
/// "you can specify 0-20 instance types").
pub const MAX_INSTANCE_TYPES: usize = 20;

/// Namespaces Kubernetes itself keeps. empi-infra deletes its namespaces on `destroy`, with all
/// they hold: never one of these.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease", "default"];

/// The EKS AMI types of the worker nodes, by architecture.
pub const AMI_X86: &str = "AL2023_x86_64_STANDARD";
pub const AMI_ARM: &str = "AL2023_ARM_64_STANDARD";

/// The CPU architecture of an EC2 instance type: Graviton families carry a `g` right after their
/// generation digit (`m7g`, `c7gn`, `t4g`, `r8gd`, `g5g`), plus the first Graviton family `a1`; every
/// other family is x86 (`m6i`, `c5`, `g4dn`, `m7i-flex`).
pub fn architecture(instance_type: &str) -> &'static str {
    let family = instance_type.split('.').next().unwrap_or("");
    let rest = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let after_digits = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    if family == "a1" || (after_digits.len() < rest.len() && after_digits.starts_with('g')) {
        "arm64"
    } else {
        "x86_64"
    }
}

/// Whether `s` is the ARN of an IAM role or user.
fn is_iam_principal(s: &str) -> bool {
    crate::arn::Arn::parse(s).is_ok_and(|a| {
        ["aws", "aws-cn", "aws-us-gov"].contains(&a.partition)
            && a.service == "iam"
            && a.region.is_empty()
            && a.has_account()
            && (a.id_after("role/").is_some() || a.id_after("user/").is_some())
    })
}

/// How many bits longer than the VPC's prefix each subnet's is (`blueprint::subnet_cidr`).
pub const SUBNET_BITS: u8 = 4;
/// VPC addresses one worker node takes with the VPC CNI's defaults (an m6i.large: 3 network
/// interfaces of 10 addresses each).
const ADDRESSES_PER_NODE: u32 = 30;

/// The network mask of a prefix length (`/0` masks nothing).
fn netmask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - len.min(32) as u32).unwrap_or(0)
}

/// Whether `ip/len` lies inside a private block: RFC 1918 or the shared 100.64.0.0/10.
fn is_private_block(ip: Ipv4Addr, len: u8) -> bool {
    let inside = |net: [u8; 4], net_len: u8| {
        len >= net_len && (u32::from(ip) >> (32 - net_len)) == (u32::from(Ipv4Addr::from(net)) >> (32 - net_len))
    };
    inside([10, 0, 0, 0], 8) || inside([172, 16, 0, 0], 12) || inside([192, 168, 0, 0], 16) || inside([100, 64, 0, 0], 10)
}

/// The same network with a prefix short enough for `needed` addresses per subnet.
fn suggest_cidr(cidr: &str, needed: u32) -> String {
    let (ip, len) = parse_cidr(cidr).unwrap_or((Ipv4Addr::new(10, 40, 0, 0), 16));
    let mut subnet = 27u8.min(len + SUBNET_BITS);
    while subnet > 16 + SUBNET_BITS && (1u32 << (32 - subnet)).saturating_sub(5) < needed {
        subnet -= 1;
    }
    let vpc = subnet - SUBNET_BITS;
    format!("{}/{vpc}", Ipv4Addr::from(u32::from(ip) & netmask(vpc)))
}

/// Parses `a.b.c.d/n` into the network address and prefix length.
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    if len > 32 {
        return None;
    }
    Some((ip, len))
}

impl Validator<'_> {
    fn err<T>(&mut self, v: &S<T>, message: impl Into<String>, help: impl Into<String>) {
        self.errors.push(self.loc.at(v.span(), message, help));
    }

    fn string(&mut self, v: Option<S<String>>, default: &str) -> (String, Option<S<String>>) {
        match v {
            Some(s) => (s.get_ref().clone(), Some(s)),
            None => (default.to_string(), None),
        }
    }

    fn int(&mut self, v: &Option<S<i64>>, key: &str, default: u32, min: i64, max: i64) -> u32 {
        match v {
            None => default,
            Some(n) => {
                let x = *n.get_ref();
                if x < min || x > max {
                    self.err(
                        n,
                        format!("`{key}` is {x}, but must be between {min} and {max}"),
                        format!("set `{key}` to a value from {min} to {max}"),
                    );
                    default
                } else {
                    x as u32
                }
            }
        }
    }

    fn resolve(&mut self, raw: RawStack, src: &str) -> Stack {
        use sha2::{Digest, Sha256};
        let digest = hex::encode(Sha256::digest(src.as_bytes()));

        // name
        let name = raw.name.get_ref().clone();
        if name.is_empty() || name.len() > 28 || !is_dns_label(&name) {
            self.err(
                &raw.name,
                format!("stack name {name:?} must be 1 to 28 characters of a-z, 0-9 and '-', not starting or ending with '-'"),
                "choose a name like \"tuva-empi-prod\"; it prefixes every AWS resource name",
            );
        }
        let region = raw.region.get_ref().clone();
        if !REGIONS.contains(&region.as_str()) {
            self.err(
                &raw.region,
                format!("region {region:?} is not an AWS region where EKS, RDS and Cognito are all available"),
                format!("use one of: {}", REGIONS.join(", ")),
            );
        }
        let tags = self.tags(raw.tags);
        let state = self.state(raw.state, &region);
        let (network, cidr_at) = self.network(raw.network, &region);
        let cluster = self.cluster(raw.cluster);
        if let (Some(at), true) = (&cidr_at, self.errors.is_empty()) {
            self.subnets_fit(at, &network, &cluster.nodes);
        }
        let timeouts = self.timeouts(raw.timeouts);
        let database = self.database(raw.database);
        let identity = self.identity(raw.identity, &name, &region);
        let app = self.app(raw.app, &region);
        let edge = EdgeConfig { waf: raw.edge.and_then(|e| e.into_inner().waf).map(|w| w.into_inner()).unwrap_or(true) };
        let security = self.security(raw.security, &region);
        let drift = DriftConfig {
            ignore: raw
                .drift
                .and_then(|d| d.into_inner().ignore)
                .map(|l| l.into_inner().into_iter().map(|s| s.into_inner()).collect())
                .unwrap_or_default(),
        };
        let target = raw
            .target
            .map(|t| {
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
            })
            .unwrap_or_default();

        Stack {
            name,
            region,
            tags,
            state,
            network,
            cluster,
            database,
            identity,
            app,
            edge,
            drift,
            security,
            target,
            timeouts,
            path: PathBuf::new(),
            digest,
        }
    }

    /// Whether the subnets cut from the VPC CIDR (4 bits longer: a /16 gives /20s) hold what AWS
    /// puts in them: an ALB needs a /27 or larger with 8 free addresses, and each node takes a VPC
    /// address per pod (the VPC CNI's default: about 30 on an m6i.large).
    fn subnets_fit(&mut self, at: &S<String>, network: &NetworkConfig, nodes: &NodesConfig) {
        let Some((_, len)) = parse_cidr(&network.cidr) else { return };
        let subnet = len + SUBNET_BITS;
        let usable = (1u32 << (32 - subnet)).saturating_sub(5);
        let zones = network.availability_zones.max(1) as u32;
        let per_zone = (nodes.max + zones - 1) / zones;
        // one more node per zone for a rolling node group update
        let needed = (per_zone + 1) * ADDRESSES_PER_NODE;
        if subnet > 27 || usable < needed {
            self.err(
                at,
                format!(
                    "VPC CIDR {:?} gives each subnet a /{subnet} ({usable} usable addresses), but a zone's share of up to {} nodes needs about {needed} (the VPC CNI gives every pod a VPC address, ~{ADDRESSES_PER_NODE} per node) and an ALB needs a /27 or larger",
                    network.cidr, nodes.max
                ),
                format!("use a larger block, e.g. \"{}\"", suggest_cidr(&network.cidr, needed)),
            );
        }
    }

    /// The stack's own tags, within AWS's limits once empi-infra adds its own to each resource.
    fn tags(&mut self, raw: BTreeMap<String, S<String>>) -> BTreeMap<String, String> {
        let allowed = MAX_TAGS - OWN_TAGS.len();
        let mut tags = BTreeMap::new();
        for (i, (k, v)) in raw.into_iter().enumerate() {
            if i == allowed {
                self.err(
                    &v,
                    format!(
                        "[tags] has more than {allowed} tags: with the {} empi-infra adds to every resource ({}) that is more than the {MAX_TAGS} AWS allows per resource",
                        OWN_TAGS.len(),
                        OWN_TAGS.join(", ")
                    ),
                    format!("keep at most {allowed} tags in [tags]"),
                );
            }
            // IAM tag keys are case-insensitive (`EMPI-INFRA:stack` is `empi-infra:stack` there), and
            // AWS reserves `aws:` in any case
            let lower = k.to_ascii_lowercase();
            if OWN_TAGS.iter().any(|t| t.eq_ignore_ascii_case(&k)) || lower.starts_with("aws:") || lower.starts_with("empi-infra:") {
                self.err(
                    &v,
                    format!("tag key {k:?} is reserved"),
                    "empi-infra sets Name and empi-infra:* on every resource, and AWS reserves aws:* (tag keys compare without case in IAM); choose another key",
                );
            } else if k.is_empty() || k.chars().count() > 128 || !k.chars().all(tag_char) {
                self.err(
                    &v,
                    format!("tag key {k:?} is not one AWS accepts"),
                    "tag keys are 1-128 characters of letters, digits, spaces and _ . : / = + - @",
                );
            } else if v.get_ref().chars().count() > 256 || !v.get_ref().chars().all(tag_char) {
                self.err(
                    &v,
                    format!("tag {k:?} has a value AWS does not accept"),
                    "tag values are at most 256 characters of letters, digits, spaces and _ . : / = + - @",
                );
            }
            tags.insert(k, v.into_inner());
        }
        tags
    }

    fn state(&mut self, raw: Option<S<RawState>>, region: &str) -> StateConfig {
        let Some(raw) = raw else { return StateConfig::Local };
        let span = raw.span();
        let raw = raw.into_inner();
        let backend = raw.backend.as_ref().map(|b| b.get_ref().as_str()).unwrap_or("local");
        match backend {
            "local" => StateConfig::Local,
            "s3" => {
                let mut need = |v: &Option<S<String>>, key: &str| -> String {
                    match v {
                        Some(s) if !s.get_ref().is_empty() => s.get_ref().clone(),
                        _ => {
                            self.errors.push(self.loc.at(
                                span.clone(),
                                format!("[state] backend = \"s3\" needs `{key}`"),
                                format!("add `{key} = \"...\"` under [state]"),
                            ));
                            String::new()
                        }
                    }
                };
                let bucket = need(&raw.bucket, "bucket");
                let key = need(&raw.key, "key");
                StateConfig::S3 {
                    bucket,
                    key,
                    region: raw.region.map(|r| r.into_inner()).unwrap_or_else(|| region.to_string()),
                    kms_key_id: raw.kms_key_id.map(|k| {
                        // a key id, alias or ARN: none holds a control or invisible character
                        let id = k.get_ref();
                        let why = if id.starts_with("arn:") { crate::arn::hostile(id) } else { crate::arn::hidden_char_problem(id) };
                        if let Some(why) = why {
                            self.err(
                                &k,
                                format!("kms_key_id {} {why}", crate::arn::shown(id)),
                                "write the KMS key's id, alias or ARN, e.g. \"alias/empi-state\"",
                            );
                        }
                        k.into_inner()
                    }),
                }
            }
            other => {
                let b = raw.backend.as_ref().unwrap();
                self.err(b, format!("unknown state backend {other:?}"), "use backend = \"local\" or backend = \"s3\"");
                StateConfig::Local
            }
        }
    }

    fn duration(&mut self, v: &S<String>, key: &str, min: u64, max: u64) -> u32 {
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if (min..=max).contains(&d.as_secs()) => d.as_secs() as u32,
            Ok(_) => {
                self.err(
                    v,
                    format!(
                        "`{key}` is {}, but must be from {} to {}",
                        v.get_ref(),
                        humantime::format_duration(std::time::Duration::from_secs(min)),
                        humantime::format_duration(std::time::Duration::from_secs(max))
                    ),
                    format!("set `{key}` to a duration in that range, e.g. \"10m\""),
                );
                0
            }
            Err(_) => {
                self.err(
                    v,
                    format!("`{key}` = {:?} is not a duration", v.get_ref()),
                    "write a duration like \"10m\", \"90s\" or \"1h 30m\"",
                );
                0
            }
        }
    }

    fn timeouts(&mut self, raw: BTreeMap<String, S<RawTimeouts>>) -> BTreeMap<String, crate::resource::Timeouts> {
        let mut out = BTreeMap::new();
        for (kind, t) in raw {
            let Some(schema) = crate::kinds::schema(&kind) else {
                self.err(
                    &t,
                    format!("[timeouts.{kind}]: there is no resource kind {kind:?}"),
                    "use a kind from docs/KINDS.md, e.g. [timeouts.aws_eks_cluster]",
                );
                continue;
            };
            let t = t.into_inner();
            let mut one = |v: &Option<S<String>>, key: &str, default: u32| match v {
                Some(v) => self.duration(v, key, 10, 24 * 3600),
                None => default,
            };
            let d = schema.timeouts;
            let create = one(&t.create, "create", d.create);
            let update = one(&t.update, "update", d.update);
            let delete = one(&t.delete, "delete", d.delete);
            out.insert(kind, crate::resource::Timeouts { create, update, delete });
        }
        out
    }

    /// The network settings, and where the VPC CIDR was written (if it was).
    fn network(&mut self, raw: Option<S<RawNetwork>>, region: &str) -> (NetworkConfig, Option<S<String>>) {
        let raw =
            raw.map(|r| r.into_inner()).unwrap_or(RawNetwork { cidr: None, availability_zones: None, nat_gateways: None, zones: None });
        let (cidr, cidr_s) = self.string(raw.cidr, "10.40.0.0/16");
        if let Some(s) = &cidr_s {
            match parse_cidr(&cidr) {
                None => self.err(s, format!("{cidr:?} is not an IPv4 CIDR block"), "write it like \"10.40.0.0/16\""),
                Some((ip, len)) => {
                    if !(16..=24).contains(&len) {
                        self.err(
                            s,
                            format!("VPC CIDR {cidr:?} has prefix /{len}; AWS allows /16 to /28 and the stack needs room for its subnets"),
                            "use a prefix from /16 to /24, e.g. \"10.40.0.0/16\"",
                        );
                    } else if u32::from(ip) & !netmask(len) != 0 {
                        self.err(
                            s,
                            format!("{cidr:?} has host bits set"),
                            format!("use the network address, e.g. \"{}/{len}\"", Ipv4Addr::from(u32::from(ip) & netmask(len))),
                        );
                    } else if !is_private_block(ip, len) {
                        self.err(
                            s,
                            format!("VPC CIDR {cidr:?} is not a private address block; AWS refuses some (0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4) and a public one clashes with the internet the VPC reaches"),
                            "use a block inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) or 100.64.0.0/10, e.g. \"10.40.0.0/16\"",
                        );
                    }
                }
            }
        }
        let pinned: Vec<String> = raw.zones.as_ref().map(|l| l.get_ref().iter().map(|z| z.get_ref().clone()).collect()).unwrap_or_default();
        let default_zones = if pinned.is_empty() { 2 } else { pinned.len() as u32 };
        let availability_zones = self.int(&raw.availability_zones, "availability_zones", default_zones, 2, 3) as u8;
        if let Some(l) = &raw.zones {
            for z in l.get_ref() {
                let suffix = z.get_ref().strip_prefix(region).unwrap_or("");
                if suffix.len() != 1 || !suffix.chars().all(|c| c.is_ascii_lowercase()) {
                    self.err(
                        z,
                        format!("{:?} is not an availability zone of {region}", z.get_ref()),
                        format!("name zones of the stack's region, e.g. \"{region}a\""),
                    );
                }
            }
            let mut unique = pinned.clone();
            unique.sort();
            unique.dedup();
            if unique.len() != pinned.len() {
                self.err(l, "`zones` names a zone twice", "list each zone once");
            } else if pinned.len() != availability_zones as usize {
                self.err(
                    l,
                    format!("`zones` lists {} zones, but availability_zones = {availability_zones}", pinned.len()),
                    "list as many zones as availability_zones (or leave availability_zones out)",
                );
            }
        }
        let nat_gateways = self.int(&raw.nat_gateways, "nat_gateways", 1, 1, 3) as u8;
        if let Some(n) = &raw.nat_gateways {
            if *n.get_ref() != 1 && *n.get_ref() != availability_zones as i64 {
                self.err(
                    n,
                    format!("`nat_gateways` is {}, but must be 1 or one per availability zone ({availability_zones})", n.get_ref()),
                    format!("set nat_gateways = 1 or nat_gateways = {availability_zones}"),
                );
            }
        }
        let zones_pinned = !pinned.is_empty();
        (NetworkConfig { cidr, availability_zones, nat_gateways, zones: pinned, zones_pinned }, cidr_s)
    }

    fn cluster(&mut self, raw: Option<S<RawCluster>>) -> ClusterConfig {
        let raw = raw.map(|r| r.into_inner()).unwrap_or(RawCluster {
            kubernetes_version: None,
            public_access_cidrs: None,
            nodes: None,
            admins: None,
        });
        let admins: Vec<String> = match raw.admins {
            None => Vec::new(),
            Some(l) => {
                for a in l.get_ref() {
                    // what no ARN may hold (a control or invisible character, `..`, an absurd
                    // length) said as such; else whether it is a role or user
                    let why = crate::arn::hostile(a.get_ref())
                        .or_else(|| (!is_iam_principal(a.get_ref())).then(|| "is not the ARN of an IAM role or user".to_string()));
                    if let Some(why) = why {
                        self.err(
                            a,
                            format!("{} {why}", crate::arn::shown(a.get_ref())),
                            "write it like \"arn:aws:iam::123456789012:role/platform-admins\"",
                        );
                    }
                }
                l.into_inner().into_iter().map(|a| a.into_inner()).collect()
            }
        };
        use crate::eks_versions::{self as ev, Support};
        let today = ev::today();
        let (kubernetes_version, kv) = self.string(raw.kubernetes_version, ev::newest(&today).version);
        if let Some(s) = &kv {
            let newest = ev::newest(&today);
            let fix = format!(
                "set kubernetes_version = \"{}\" (standard support until {}), or one of: {}",
                newest.version,
                newest.end_of_standard,
                ev::creatable(&today).join(", ")
            );
            match ev::support(&kubernetes_version, &today) {
                Support::Standard(_) | Support::Extended(_) => {}
                Support::Ended(r) => self.err(
                    s,
                    format!(
                        "Kubernetes {kubernetes_version} is past EKS support: standard support ended {}, extended support ended {}, and EKS creates no clusters on it",
                        r.end_of_standard, r.end_of_extended
                    ),
                    fix,
                ),
                Support::Unknown => self.err(s, format!("Kubernetes version {kubernetes_version:?} is not one EKS offers"), fix),
            }
        }
        let public_access_cidrs = match raw.public_access_cidrs {
            None => vec!["0.0.0.0/0".to_string()],
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.err(
                        &list,
                        "`public_access_cidrs` is empty, but EKS needs at least one block when the public endpoint is on",
                        "list the networks kubectl users come from, e.g. [\"203.0.113.0/24\"]",
                    );
                }
                let list = list.into_inner();
                for c in &list {
                    match parse_cidr(c.get_ref()) {
                        None => self.err(c, format!("{:?} is not an IPv4 CIDR block", c.get_ref()), "write it like \"203.0.113.0/24\""),
                        Some((ip, len)) if u32::from(ip) & !netmask(len) != 0 => {
                            let net = Ipv4Addr::from(u32::from(ip) & netmask(len));
                            self.err(
                                c,
                                format!("{:?} is a host address with a mask; EKS wants the network address", c.get_ref()),
                                format!("write \"{net}/{len}\" for the network, or \"{ip}/32\" for that one host"),
                            )
                        }
                        Some(_) => {}
                    }
                }
                list.into_iter().map(|c| c.into_inner()).collect()
            }
        };
        let nodes = match raw.nodes {
            None => NodesConfig { instance_types: vec!["m6i.large".into()], ami_type: AMI_X86.into(), min: 2, max: 4, desired: 2 },
            Some(n) => {
                let span = n.span();
                let n = n.into_inner();
                let mut ami_type = AMI_X86;
                let instance_types = match n.instance_types {
                    None => vec!["m6i.large".to_string()],
                    Some(l) => {
                        if l.get_ref().is_empty() {
                            self.err(&l, "`instance_types` is empty", "list at least one instance type, e.g. [\"m6i.large\"]");
                        } else if l.get_ref().len() > MAX_INSTANCE_TYPES {
                            self.err(
                                &l,
                                format!(
                                    "`instance_types` lists {} types, but an EKS managed node group takes at most {MAX_INSTANCE_TYPES}",
                                    l.get_ref().len()
                                ),
                                format!("list at most {MAX_INSTANCE_TYPES} instance types, e.g. [\"m6i.large\", \"m6a.large\"]"),
                            );
                        }
                        let arches: Vec<&str> = l.get_ref().iter().map(|t| architecture(t.get_ref())).collect();
                        if arches.iter().any(|a| *a != arches[0]) {
                            let list = |arch: &str| {
                                l.get_ref()
                                    .iter()
                                    .filter(|t| architecture(t.get_ref()) == arch)
                                    .map(|t| t.get_ref().as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            };
                            self.err(
                                &l,
                                format!("`instance_types` mixes ARM (Graviton: {}) and x86 ({}) types, but one node group runs one AMI architecture", list("arm64"), list("x86_64")),
                                "list only Graviton types (m7g, c7g, r7g, t4g…) or only x86 types (m6i, m7i, c6i…)",
                            );
                        } else if arches.first() == Some(&"arm64") {
                            ami_type = AMI_ARM;
                        }
                        let l = l.into_inner();
                        for t in &l {
                            let ok = t.get_ref().split_once('.').is_some_and(|(a, b)| {
                                !a.is_empty()
                                    && !b.is_empty()
                                    && t.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                            });
                            if !ok {
                                self.err(t, format!("{:?} is not an EC2 instance type", t.get_ref()), "write it like \"m6i.large\"");
                            }
                        }
                        l.into_iter().map(|t| t.into_inner()).collect()
                    }
                };
                let min = self.int(&n.min, "min", 2, 0, 450);
                let max = self.int(&n.max, "max", 4, 1, 450);
                let desired = self.int(&n.desired, "desired", min.max(2).min(max), 0, 450);
                if !(min <= desired && desired <= max) {
                    let at = n.desired.as_ref().map(|d| d.span()).or(n.min.as_ref().map(|d| d.span())).unwrap_or(span);
                    self.errors.push(self.loc.at(
                        at,
                        format!("node counts must satisfy min <= desired <= max, but min = {min}, desired = {desired}, max = {max}"),
                        "adjust [cluster.nodes] min, desired and max",
                    ));
                }
                NodesConfig { instance_types, ami_type: ami_type.into(), min, max, desired }
            }
        };
        ClusterConfig { kubernetes_version, public_access_cidrs, nodes, admins }
    }

    fn database(&mut self, raw: Option<S<RawDatabase>>) -> DatabaseConfig {
        let raw = raw.map(|r| r.into_inner()).unwrap_or(RawDatabase {
            engine_version: None,
            instance_class: None,
            allocated_storage_gb: None,
            multi_az: None,
            backup_retention_days: None,
            deletion_protection: None,
        });
        let (engine_version, ev) = self.string(raw.engine_version, "16");
        if let Some(s) = &ev {
            let major = engine_version.split('.').next().unwrap_or("");
            match major.parse::<u32>() {
                Ok(m) if m < 16 => self.err(
                    s,
                    format!("PostgreSQL {engine_version} is too old: Tuva EMPI needs PostgreSQL 16 or newer"),
                    "set engine_version = \"16\"",
                ),
                Ok(_) => match POSTGRES_VERSIONS.iter().find(|(maj, _)| *maj == major) {
                    None => self.err(
                        s,
                        format!("PostgreSQL major version {major} is not offered by RDS"),
                        format!("use one of: {}", POSTGRES_VERSIONS.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", ")),
                    ),
                    Some((_, minors)) => {
                        if engine_version.contains('.') && !minors.contains(&engine_version.as_str()) {
                            self.err(
                                s,
                                format!("PostgreSQL {engine_version} is not a version RDS offers"),
                                format!("use the major version \"{major}\" (AWS picks the minor) or one of: {}", minors.join(", ")),
                            );
                        }
                    }
                },
                Err(_) => self.err(
                    s,
                    format!("{engine_version:?} is not a PostgreSQL version"),
                    "write the major (\"16\") or a full version (\"16.4\")",
                ),
            }
        }
        let (instance_class, ic) = self.string(raw.instance_class, "db.t4g.medium");
        if let Some(s) = &ic {
            if !DB_INSTANCE_CLASSES.contains(&instance_class.as_str()) {
                self.err(
                    s,
                    format!("{instance_class:?} is not an RDS instance class for PostgreSQL 16+"),
                    "use e.g. \"db.t4g.medium\", \"db.m7g.large\" or \"db.r7g.large\" (see docs/STACK.md)",
                );
            }
        }
        DatabaseConfig {
            engine_version,
            instance_class,
            allocated_storage_gb: self.int(&raw.allocated_storage_gb, "allocated_storage_gb", 50, 20, 65536),
            multi_az: raw.multi_az.map(|b| b.into_inner()).unwrap_or(true),
            backup_retention_days: self.int(&raw.backup_retention_days, "backup_retention_days", 7, 1, 35),
            deletion_protection: raw.deletion_protection.map(|b| b.into_inner()).unwrap_or(true),
        }
    }

    fn security(&mut self, raw: Option<S<RawSecurity>>, region: &str) -> SecurityConfig {
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
                let close =
                    BASELINE_RULE_IDS.iter().copied().find(|id| id.contains(w.rule.get_ref().as_str()) || w.rule.get_ref().contains(id));
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
        SecurityConfig {
            kms_key_arn,
            waivers,
            log_retention_days,
            cloudtrail: raw.cloudtrail.map(|b| b.into_inner()).unwrap_or(false),
            force_destroy_logs: raw.force_destroy_logs.map(|b| b.into_inner()).unwrap_or(false),
        }
    }

    fn identity(&mut self, raw: S<RawIdentity>, stack_name: &str, region: &str) -> IdentityConfig {
        let identity_span = S::new(raw.span(), ());
        let raw = raw.into_inner();
        let admin_email = raw.admin_email.get_ref().clone();
        if let Some(why) = crate::arn::hidden_char_problem(&admin_email) {
            // is_email would let it pass in the local part; Cognito and Keycloak store it, and
            // people read it
            self.err(
                &raw.admin_email,
                format!("admin_email {} {why}", crate::arn::shown(&admin_email)),
                "type the initial administrator's address again by hand, e.g. \"admin@example.org\"",
            );
        } else if !is_email(&admin_email) {
            self.err(
                &raw.admin_email,
                format!("{admin_email:?} is not an email address"),
                "write the initial administrator's address, e.g. \"admin@example.org\"",
            );
        }
        let provider = match raw.provider.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("cognito") => "cognito",
            Some("keycloak") => "keycloak",
            Some(other) => {
                let p = raw.provider.as_ref().unwrap();
                self.err(p, format!("identity provider {other:?} is not known"), "use \"cognito\" (the default) or \"keycloak\"");
                "cognito"
            }
        };
        let keycloak_keys = [
            ("server_url", &raw.server_url),
            ("realm", &raw.realm),
            ("client_id", &raw.client_id),
            ("client_secret_arn", &raw.client_secret_arn),
            ("jwt_aud", &raw.jwt_aud),
        ];
        if provider == "cognito" {
            for (key, v) in keycloak_keys {
                if let Some(v) = v {
                    self.err(
                        v,
                        format!("`{key}` is a Keycloak setting, but the identity provider is Cognito"),
                        "remove it, or set provider = \"keycloak\"",
                    );
                }
            }
            let (domain_prefix, dp) = self.string(raw.domain_prefix, stack_name);
            if let Some(why) = domain_prefix_problem(&domain_prefix) {
                match &dp {
                    Some(s) => {
                        self.err(s, format!("Cognito domain prefix {domain_prefix:?} {why}"), "choose a prefix like \"tuva-empi-prod\"")
                    }
                    // the prefix defaults to the stack's name: Cognito would refuse it at apply
                    None => self.err(
                        &identity_span,
                        format!("the Cognito domain prefix defaults to the stack name {domain_prefix:?}, which Cognito refuses: it {why}"),
                        "set `domain_prefix = \"...\"` under [identity], e.g. \"tuva-empi-prod\"",
                    ),
                }
            }
            let mfa = match raw.mfa.as_ref().map(|m| m.get_ref().as_str()) {
                None | Some("required") => Mfa::Required,
                Some("optional") => Mfa::Optional,
                Some("off") => Mfa::Off,
                Some(other) => {
                    self.err(
                        raw.mfa.as_ref().unwrap(),
                        format!("mfa {other:?} is not known"),
                        "use \"required\" (the default), \"optional\" or \"off\"",
                    );
                    Mfa::Required
                }
            };
            return IdentityConfig { admin_email, provider: IdentityProvider::Cognito { domain_prefix, mfa } };
        }
        if let Some(v) = &raw.domain_prefix {
            self.err(
                v,
                "`domain_prefix` is a Cognito setting, but the identity provider is Keycloak",
                "remove it; Keycloak signs users in on its own host",
            );
        }
        if let Some(v) = &raw.mfa {
            self.err(
                v,
                "`mfa` is a Cognito setting, but the identity provider is Keycloak",
                "remove it; require MFA in the Keycloak realm (an OTP required action or a conditional-OTP flow)",
            );
        }
        let keycloak = self.keycloak(raw, &identity_span, region);
        IdentityConfig { admin_email, provider: IdentityProvider::Keycloak(keycloak) }
    }

    /// The `[identity]` settings of a Keycloak realm; `at` locates errors about missing keys.
    fn keycloak(&mut self, raw: RawIdentity, at: &S<()>, region: &str) -> KeycloakConfig {
        let mut required = |v: &Option<S<String>>, key: &str, example: &str| -> String {
            match v {
                Some(s) if !s.get_ref().trim().is_empty() => s.get_ref().trim().to_string(),
                Some(s) => {
                    self.err(s, format!("`{key}` is empty"), format!("set it, e.g. {key} = {example:?}"));
                    String::new()
                }
                None => {
                    self.err(at, format!("a Keycloak identity provider needs `{key}`"), format!("add {key} = {example:?} to [identity]"));
                    String::new()
                }
            }
        };
        let server_url = required(&raw.server_url, "server_url", "https://sso.example.org").trim_end_matches('/').to_string();
        let realm = required(&raw.realm, "realm", "tuva");
        let client_id = required(&raw.client_id, "client_id", "tuva-empi");
        let client_secret_arn = required(
            &raw.client_secret_arn,
            "client_secret_arn",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:tuva-empi-keycloak-client-AbCdEf",
        );
        if let (Some(s), false) = (&raw.server_url, server_url.is_empty()) {
            if let Err(why) = check_server_url(&server_url) {
                self.err(
                    s,
                    format!("server_url {server_url:?} {why}"),
                    "use the https:// address of the Keycloak server, e.g. \"https://sso.example.org\" (without /realms/...)",
                );
            }
        }
        if let (Some(s), false) = (&raw.realm, realm.is_empty()) {
            if realm.contains(['/', '?', '#', ' ']) {
                self.err(s, format!("realm {realm:?} is not a realm name"), "write the realm's name as Keycloak shows it, e.g. \"tuva\"");
            }
        }
        if let (Some(s), false) = (&raw.client_secret_arn, client_secret_arn.is_empty()) {
            if let Err(why) =
                crate::arn::Arn::check(&client_secret_arn, "secretsmanager", Some(region), crate::arn::partition_of(region), "secret:")
            {
                self.err(
                    s,
                    format!("client_secret_arn {} {why}", crate::arn::shown(&client_secret_arn)),
                    format!("store the client secret in Secrets Manager in {region} and use its ARN: arn:{}:secretsmanager:{region}:<account>:secret:<name>", crate::arn::partition_of(region)),
                );
            }
        }
        let jwt_aud = match &raw.jwt_aud {
            None => KEYCLOAK_DEFAULT_AUD.to_string(),
            Some(s) if s.get_ref().trim().is_empty() => {
                self.err(
                    s,
                    "`jwt_aud` is empty, but Tuva EMPI requires an audience",
                    format!("leave it out for Keycloak's default {KEYCLOAK_DEFAULT_AUD:?}, or name the audience your client's mapper adds"),
                );
                String::new()
            }
            Some(s) => s.get_ref().clone(),
        };
        let endpoints = OidcEndpoints::keycloak(&server_url, &realm);
        KeycloakConfig { server_url, realm, client_id, client_secret_arn, jwt_aud, endpoints, client_secret_version: None }
    }

    fn app(&mut self, raw: S<RawApp>, region: &str) -> AppConfig {
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
        let (namespace, ns) = self.string(raw.namespace, "tuva-empi");
        if let Some(s) = &ns {
            if !is_dns_label(&namespace) {
                self.err(s, format!("{namespace:?} is not a valid Kubernetes namespace name"), "use a-z, 0-9 and '-', e.g. \"tuva-empi\"");
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
        if let Err(why) = crate::arn::Arn::check(&certificate_arn, "acm", Some(region), crate::arn::partition_of(region), "certificate/") {
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
            None => "process".to_string(),
            Some(s) => {
                if s.get_ref() != "process" && s.get_ref() != "k8s" {
                    self.err(&s, format!("matching_job_runner {:?} is not known", s.get_ref()), "use \"process\" or \"k8s\"");
                } else if s.get_ref() == "k8s" && !tuva.k8s_job_runner {
                    self.err(
                        &s,
                        format!("Tuva EMPI {version} has no Kubernetes job runner; it came with {}", crate::tuva::since("k8s_job_runner")),
                        "use matching_job_runner = \"process\", or a version from that commit on",
                    );
                }
                s.into_inner()
            }
        };
        // upstream runs matching jobs in `default` until job_namespace exists, then where it says
        let default_job_ns = if tuva.job_namespace { namespace.clone() } else { "default".to_string() };
        let matching_job_namespace = match &raw.matching_job_namespace {
            None => default_job_ns,
            Some(s) => {
                let v = s.get_ref().clone();
                if !is_dns_label(&v) {
                    self.err(s, format!("{v:?} is not a valid Kubernetes namespace name"), "use a-z, 0-9 and '-', e.g. \"tuva-empi-jobs\"");
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
            api_replicas: self.int(&raw.api_replicas, "api_replicas", 2, 1, 100),
            frontend_replicas: self.int(&raw.frontend_replicas, "frontend_replicas", 2, 1, 100),
            matching_job_runner,
            matching_job_namespace,
            tuva,
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

impl Stack {
    /// The IAM scope of this stack's resources (`crate::kinds::Scope`); `account` is `*` when not
    /// known.
    pub fn iam_scope(&self, account: Option<&str>) -> crate::kinds::Scope {
        crate::kinds::Scope {
            partition: crate::arn::partition_of(&self.region).into(),
            account: account.unwrap_or("*").into(),
            region: self.region.clone(),
            stack: self.name.clone(),
            user_secrets: self.identity.keycloak().map(|k| k.client_secret_arn.clone()).into_iter().collect(),
        }
    }
}

// The stack file's JSON Schema (`crate::stack_schema`) of two keys, named by their `schemars`
// attributes.

/// `[database] engine_version`: the PostgreSQL major versions and the minor versions RDS offers.
fn schema_engine_versions() -> Vec<&'static str> {
    POSTGRES_VERSIONS.iter().flat_map(|(major, minors)| std::iter::once(*major).chain(minors.iter().copied())).collect()
}

/// `[tags]`: AWS's limits, less the prefixes AWS and empi-infra reserve.
fn schema_tags(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "minLength": 1, "maxLength": 128, "not": { "pattern": "^(aws:|empi-infra:)" } },
        "additionalProperties": { "type": "string", "maxLength": 256 },
        "default": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"name = "tuva-empi-prod"
region = "us-east-1"
[identity]
admin_email = "admin@example.org"
[app]
hostname = "empi.example.org"
certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
"#;

    const KEYCLOAK: &str = r#"name = "tuva-empi-prod"
region = "us-east-1"
[identity]
provider = "keycloak"
admin_email = "admin@example.org"
server_url = "https://sso.example.org/"
realm = "tuva"
client_id = "tuva-empi"
client_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kc-client-AbCdEf"
[app]
hostname = "empi.example.org"
certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
"#;

    #[test]
    fn a_keycloak_realm_gets_its_standard_endpoints_and_the_default_audience() {
        let s = Stack::parse("s.toml", KEYCLOAK).unwrap();
        let kc = s.identity.keycloak().expect("keycloak");
        assert_eq!(kc.server_url, "https://sso.example.org");
        assert_eq!(kc.jwt_aud, "account");
        assert_eq!(kc.endpoints.issuer, "https://sso.example.org/realms/tuva");
        assert_eq!(kc.endpoints.jwks_uri, "https://sso.example.org/realms/tuva/protocol/openid-connect/certs");
        assert_eq!(kc.endpoints.token_endpoint, "https://sso.example.org/realms/tuva/protocol/openid-connect/token");
        assert_eq!(s.identity.cognito_domain_prefix(), None);
        assert_eq!(Stack::parse("s.toml", MINIMAL).unwrap().identity.provider_name(), "cognito");
    }

    #[test]
    fn an_endpoint_open_to_the_internet_and_mfa_off_are_warned_about() {
        let s = Stack::parse("s.toml", MINIMAL).unwrap();
        let w = s.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("public_access_cidrs") && w[0].contains("0.0.0.0/0"), "{w:?}");
        let narrow = Stack::parse("s.toml", &format!("{MINIMAL}[cluster]\npublic_access_cidrs = [\"203.0.113.0/24\"]\n")).unwrap();
        assert!(narrow.warnings().is_empty(), "{:?}", narrow.warnings());
        let off = Stack::parse(
            "s.toml",
            &format!(
                "{}[cluster]\npublic_access_cidrs = [\"203.0.113.0/24\"]\n",
                MINIMAL.replace("[identity]\n", "[identity]\nmfa = \"off\"\n")
            ),
        )
        .unwrap();
        assert!(off.warnings().iter().any(|w| w.contains("mfa = \"off\"")), "{:?}", off.warnings());
    }

    #[test]
    fn cognito_mfa_is_required_unless_the_stack_says_otherwise() {
        use super::Mfa;
        assert_eq!(Stack::parse("s.toml", MINIMAL).unwrap().identity.cognito_mfa(), Some(Mfa::Required));
        for (v, want) in [("off", Mfa::Off), ("optional", Mfa::Optional), ("required", Mfa::Required)] {
            let s = Stack::parse("s.toml", &MINIMAL.replace("[identity]\n", &format!("[identity]\nmfa = \"{v}\"\n"))).unwrap();
            assert_eq!(s.identity.cognito_mfa(), Some(want), "{v}");
        }
        let e = err(&MINIMAL.replace("[identity]\n", "[identity]\nmfa = \"sms\"\n"));
        assert!(e.message.contains("mfa \"sms\" is not known"), "{e}");
        assert_eq!((e.line, e.column), (MINIMAL.lines().position(|l| l == "[identity]").unwrap() + 2, 7), "{e}");
        let e = err(&KEYCLOAK.replace("realm = \"tuva\"\n", "realm = \"tuva\"\nmfa = \"off\"\n"));
        assert!(e.message.contains("`mfa` is a Cognito setting"), "{e}");
        assert_eq!(Stack::parse("s.toml", KEYCLOAK).unwrap().identity.cognito_mfa(), None);
    }

    #[test]
    fn keys_of_the_other_provider_are_errors_where_they_are() {
        let e = err(&KEYCLOAK.replace("realm = \"tuva\"\n", "realm = \"tuva\"\ndomain_prefix = \"x\"\n"));
        assert_eq!((e.line, e.column), (8, 17), "{e}");
        assert!(e.message.contains("`domain_prefix` is a Cognito setting"), "{e}");
        let e = err(&MINIMAL.replace("admin_email", "realm = \"tuva\"\nadmin_email"));
        assert_eq!((e.line, e.column), (4, 9), "{e}");
        assert!(e.message.contains("`realm` is a Keycloak setting"), "{e}");
        assert!(e.help.unwrap().contains("provider = \"keycloak\""));
    }

    #[test]
    fn a_keycloak_server_must_be_https_except_on_loopback() {
        let with_url = |u: &str| KEYCLOAK.replace("https://sso.example.org/", u);
        let e = err(&with_url("http://sso.example.org"));
        assert!(e.message.contains("is not https://"), "{e}");
        assert_eq!(e.line, 6);
        for ok in ["http://127.0.0.1:8080", "http://localhost:9000", "http://[::1]:8080", "https://sso.example.org/auth"] {
            assert!(Stack::parse("s.toml", &with_url(ok)).is_ok(), "{ok}");
        }
        assert!(err(&with_url("https://sso.example.org/realms/tuva")).message.contains("realm path"));
        assert!(err(&with_url("ftp://sso.example.org")).message.contains("not an https:// URL"));
    }

    #[test]
    fn a_keycloak_provider_names_what_it_lacks() {
        let e = err(&KEYCLOAK.replace("client_id = \"tuva-empi\"\n", ""));
        assert!(e.message.contains("needs `client_id`"), "{e}");
        assert_eq!(e.line, 3, "the [identity] table: {e}");
        let e = err(&KEYCLOAK.replace("arn:aws:secretsmanager:us-east-1:123456789012:secret:kc-client-AbCdEf", "kc-client"));
        assert!(e.message.contains("\"kc-client\" is not an ARN"), "{e}");
        let e = err(&KEYCLOAK.replace("provider = \"keycloak\"", "provider = \"okta\""));
        assert!(e.message.contains("\"okta\" is not known"), "{e}");
        let e = err(&KEYCLOAK.replace("realm = \"tuva\"", "realm = \"tuva\"\njwt_aud = \"\""));
        assert!(e.message.contains("requires an audience"), "{e}");
    }

    fn err(src: &str) -> StackError {
        let e = Stack::parse("s.toml", src).expect_err("should be invalid");
        e.0[0].clone()
    }

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
        assert_eq!(Stack::parse("s.toml", MINIMAL).unwrap().security.kms_key_arn, None, "the stack's own key by default");
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let s = Stack::parse("s.toml", &format!("{MINIMAL}[security]\nkms_key_arn = \"{key}\"\n")).unwrap();
        assert_eq!(s.security.kms_key_arn.as_deref(), Some(key));
        for (bad, why) in [
            ("arn:aws:kms:us-east-1:123456789012:alias/empi", "names no kms id after \"key/\""),
            ("arn:aws:kms:eu-west-1:123456789012:key/abc", "is in eu-west-1, but the stack is in us-east-1"),
            ("arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "is an ARN of secretsmanager, not of kms"),
        ] {
            let e = err(&format!("{MINIMAL}[security]\nkms_key_arn = \"{bad}\"\n"));
            assert!(e.message.contains(why), "{bad}: {e}");
            assert_eq!(e.line, 9, "{e}");
            assert!(e.help.as_deref().unwrap().contains("not an alias"), "{e}");
        }
    }

    #[test]
    fn minimal_stack_gets_production_defaults() {
        let s = Stack::parse("s.toml", MINIMAL).unwrap();
        assert_eq!(s.network.cidr, "10.40.0.0/16");
        assert_eq!(s.network.availability_zones, 2);
        assert!(s.database.multi_az && s.database.deletion_protection);
        assert_eq!(s.database.engine_version, "16");
        assert_eq!(s.database.backup_retention_days, 7);
        assert_eq!(s.cluster.nodes.desired, 2);
        assert_eq!(s.identity.cognito_domain_prefix(), Some("tuva-empi-prod"));
        assert!(s.edge.waf);
        assert_eq!(s.state, StateConfig::Local);
        assert_eq!((s.security.log_retention_days, s.security.cloudtrail, s.security.force_destroy_logs), (365, false, false));
    }

    #[test]
    fn a_log_retention_cloudwatch_does_not_accept_is_refused_where_it_is_written() {
        let e = err(&format!("{MINIMAL}[security]\nlog_retention_days = 100\n"));
        assert_eq!(e.message, "`log_retention_days` is 100, which CloudWatch Logs does not accept as a retention period");
        assert!(e.help.as_deref().unwrap().ends_with("(e.g. 120)"), "{e}");
        assert_eq!((e.line, e.column), (9, 22), "{e}");
        let s = Stack::parse("s.toml", &format!("{MINIMAL}[security]\nlog_retention_days = 2192\ncloudtrail = true\n")).unwrap();
        assert_eq!((s.security.log_retention_days, s.security.cloudtrail), (2192, true));
    }

    #[test]
    fn unknown_key_is_rejected_with_its_location() {
        let e = err(&format!("{MINIMAL}colour = \"blue\"\n"));
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert_eq!((e.line, e.column), (8, 1), "{e}");
        assert!(e.to_string().starts_with("s.toml:8:1: "), "{e}");
    }

    #[test]
    fn a_version_past_eks_support_is_refused_with_its_dates() {
        std::env::set_var("EMPI_INFRA_TODAY", "2026-11-27");
        let e = err(&format!("{MINIMAL}[cluster]\nkubernetes_version = \"1.29\"\n"));
        assert_eq!(
            e.message,
            "Kubernetes 1.29 is past EKS support: standard support ended 2025-03-23, extended support ended 2026-03-23, and EKS creates no clusters on it"
        );
        assert!(e.help.as_deref().unwrap().starts_with("set kubernetes_version = \"1.36\" (standard support until 2027-08-02)"), "{e}");
        let s = Stack::parse("s.toml", MINIMAL).unwrap();
        assert_eq!(s.cluster.kubernetes_version, "1.36", "a new stack gets the newest version");
    }

    #[test]
    fn bad_values_name_line_and_column() {
        let src = MINIMAL.replace("tuva-empi-prod", "Tuva_EMPI");
        let e = err(&src);
        assert_eq!((e.line, e.column), (1, 8), "{e}");
        let e = err(&format!("{MINIMAL}[database]\nengine_version = \"15\"\n"));
        assert!(e.message.contains("PostgreSQL 16 or newer"), "{e}");
        assert_eq!((e.line, e.column), (9, 18));
        let e = err(&format!("{MINIMAL}[network]\ncidr = \"10.40.0.0/33\"\n"));
        assert!(e.message.contains("not an IPv4 CIDR"), "{e}");
        let e = err(&format!("{MINIMAL}[network]\navailability_zones = 4\n"));
        assert!(e.message.contains("between 2 and 3"), "{e}");
        let e = err(&MINIMAL.replace("admin@example.org", "not-an-email"));
        assert!(e.message.contains("not an email address"), "{e}");
        assert_eq!(e.line, 4);
        let e = err(&format!("{MINIMAL}[cluster]\nkubernetes_version = \"1.12\"\n"));
        assert!(e.message.contains("not one EKS offers"), "{e}");
        let e = err(&format!("{MINIMAL}[database]\nengine_version = \"16.99\"\n"));
        assert!(e.message.contains("not a version RDS offers"), "{e}");
        let e = err(&format!("{MINIMAL}[database]\ninstance_class = \"db.huge\"\n"));
        assert!(e.message.contains("instance class"), "{e}");
    }

    #[test]
    fn node_counts_must_be_ordered() {
        let e = err(&format!("{MINIMAL}[cluster.nodes]\nmin = 3\nmax = 4\ndesired = 2\n"));
        assert!(e.message.contains("min <= desired <= max"), "{e}");
        assert_eq!(e.line, 11);
    }

    #[test]
    fn missing_required_key_and_wrong_type() {
        let e = err("name = \"x\"\nregion = \"us-east-1\"\n[app]\nhostname = \"a.b\"\ncertificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/x\"\n");
        assert!(e.message.contains("missing field `identity`"), "{e}");
        let e = err(&format!("{MINIMAL}[database]\nmulti_az = \"yes\"\n"));
        assert_eq!(e.line, 9, "{e}");
    }

    #[test]
    fn every_error_is_reported_not_only_the_first() {
        let src = format!("{MINIMAL}[database]\nengine_version = \"14\"\ninstance_class = \"db.huge\"\n");
        let e = Stack::parse("s.toml", &src).unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
    }

    #[test]
    fn example_stacks_in_the_repo_are_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks");
        for f in ["local.toml", "example-prod.toml"] {
            Stack::load(&root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }

    // Validation gaps found by the adversarial run of issue #17: each passed `validate` and failed
    // on AWS. The tests are named after the finding.

    #[test]
    fn finding_6_vpc_cidrs_aws_refuses_or_that_are_public_are_refused() {
        for bad in ["0.0.0.0/16", "224.0.0.0/16", "127.0.0.0/16", "8.8.0.0/16", "172.32.0.0/16"] {
            let e = err(&format!("{MINIMAL}[network]\ncidr = \"{bad}\"\n"));
            assert!(e.message.contains("not a private address block"), "{bad}: {e}");
            assert_eq!((e.line, e.column), (9, 8), "{bad}: {e}");
        }
        for good in ["10.40.0.0/16", "172.16.0.0/16", "192.168.0.0/16", "100.64.0.0/16"] {
            assert!(Stack::parse("s.toml", &format!("{MINIMAL}[network]\ncidr = \"{good}\"\n")).is_ok(), "{good}");
        }
    }

    #[test]
    fn finding_6_subnets_smaller_than_eks_and_the_alb_need_are_refused() {
        // a /24 VPC gives /28 subnets: 11 usable addresses, no room for an ALB or pods
        let e = err(&format!("{MINIMAL}[network]\ncidr = \"10.40.0.0/24\"\n"));
        assert!(e.message.contains("/28 (11 usable addresses)"), "{e}");
        assert!(e.help.as_deref().unwrap().contains("10.40.0.0/"), "{e}");
        // the default 2 to 4 nodes fit a /20 VPC (/24 subnets), but not 40 nodes
        assert!(Stack::parse("s.toml", &format!("{MINIMAL}[network]\ncidr = \"10.40.0.0/20\"\n")).is_ok());
        let big = format!("{MINIMAL}[network]\ncidr = \"10.40.0.0/20\"\n[cluster.nodes]\nmin = 2\nmax = 40\ndesired = 2\n");
        let e = err(&big);
        assert!(e.message.contains("up to 40 nodes"), "{e}");
        let fix = e.help.clone().unwrap();
        let suggested = fix.split('"').nth(1).unwrap().to_string();
        assert!(Stack::parse("s.toml", &big.replace("10.40.0.0/20", &suggested)).is_ok(), "the suggested {suggested} must fit");
    }

    #[test]
    fn finding_6_more_tags_than_aws_allows_are_refused() {
        let tags: String = (0..60).map(|i| format!("t{i:02} = \"v\"\n")).collect();
        let e = err(&format!("{MINIMAL}[tags]\n{tags}"));
        assert!(e.message.contains("more than 46 tags") && e.message.contains("50 AWS allows"), "{e}");
        let tags: String = (0..46).map(|i| format!("t{i:02} = \"v\"\n")).collect();
        assert!(Stack::parse("s.toml", &format!("{MINIMAL}[tags]\n{tags}")).is_ok(), "46 tags + 4 of empi-infra's = 50");
    }

    #[test]
    fn finding_6_tag_keys_and_values_with_characters_aws_refuses_are_refused() {
        for bad in ["\"cost#center\" = \"x\"", "\"a!b\" = \"x\"", "ok = \"semi;colon\"", "Name = \"x\"", "\"AWS:x\" = \"y\""] {
            let e = err(&format!("{MINIMAL}[tags]\n{bad}\n"));
            assert!(e.message.contains("tag"), "{bad}: {e}");
            assert_eq!(e.line, 9, "{bad}: {e}");
        }
        assert!(Stack::parse("s.toml", &format!("{MINIMAL}[tags]\n\"cost-center/team\" = \"Data Eng @ HQ: 42+1=_.\"\n")).is_ok());
    }

    #[test]
    fn finding_6_a_stack_name_cognito_refuses_as_the_default_domain_prefix_is_refused() {
        let e = err(&MINIMAL.replace("tuva-empi-prod", "aws-empi"));
        assert!(e.message.contains("defaults to the stack name \"aws-empi\""), "{e}");
        assert_eq!(e.line, 3, "at [identity]: {e}");
        assert!(e.help.as_deref().unwrap().contains("domain_prefix"), "{e}");
        // an explicit prefix makes the name fine
        assert!(Stack::parse(
            "s.toml",
            &MINIMAL.replace("tuva-empi-prod", "aws-empi").replace("[identity]\n", "[identity]\ndomain_prefix = \"empi-login\"\n")
        )
        .is_ok());
        let e = err(&MINIMAL.replace("[identity]\n", "[identity]\ndomain_prefix = \"amazon-login\"\n"));
        assert!(e.message.contains("reserves"), "{e}");
    }

    #[test]
    fn finding_6_certificate_arns_of_another_partition_or_without_an_id_are_refused() {
        for (bad, why) in [
            ("arn:aws-cn:acm:us-east-1:123456789012:certificate/abc", "partition"),
            ("arn:aws:acm:us-east-1:123456789012:certificate/", "no acm id"),
            ("arn:aws:acm:us-east-1::certificate/abc", "12 digits"),
            ("arn:aws:acm:eu-west-1:123456789012:certificate/abc", "eu-west-1"),
        ] {
            let e = err(&MINIMAL.replace("arn:aws:acm:us-east-1:123456789012:certificate/abc", bad));
            assert!(e.message.contains(why), "{bad}: {e}");
            assert_eq!(e.line, 7, "{bad}: {e}");
        }
    }

    #[test]
    fn finding_6_empty_public_access_cidrs_or_a_host_address_with_a_mask_are_refused() {
        let e = err(&format!("{MINIMAL}[cluster]\npublic_access_cidrs = []\n"));
        assert!(e.message.contains("is empty"), "{e}");
        let e = err(&format!("{MINIMAL}[cluster]\npublic_access_cidrs = [\"203.0.113.7/24\"]\n"));
        assert!(e.message.contains("host address with a mask"), "{e}");
        assert!(e.help.as_deref().unwrap().contains("203.0.113.0/24") && e.help.as_deref().unwrap().contains("203.0.113.7/32"), "{e}");
        assert!(Stack::parse("s.toml", &format!("{MINIMAL}[cluster]\npublic_access_cidrs = [\"0.0.0.0/0\", \"203.0.113.7/32\"]\n")).is_ok());
    }

    // --- issue #24: what `validate` accepted and must not ----------------------------------------

    const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/abc";

    #[test]
    fn issue_24_arns_with_a_control_character_dot_dot_or_an_absurd_length_are_refused_where_they_are() {
        let fix =
            "\n  fix: use the ARN of an ACM certificate for the hostname in us-east-1: arn:aws:acm:us-east-1:<account>:certificate/<id>";
        let a5000 = format!("{CERT}{}", "a".repeat(5000));
        let a1500 = format!("{CERT}{}", "a".repeat(1500));
        // in the TOML, `\u0000` puts the character itself in the value
        for (toml, says) in [
            (format!("{CERT}\\u0000"), format!("{:?} contains the control character U+0000", format!("{CERT}\0"))),
            (format!("{CERT}\\u001B[2J"), format!("{:?} contains the control character U+001B", format!("{CERT}\u{1b}[2J"))),
            (format!("{CERT}/../../key"), format!("\"{CERT}/../../key\" has a \"..\" path segment, which no AWS resource name has")),
            (a5000.clone(), format!("{:?}… (5050 characters) is 5050 characters long, but an ARN has at most 2048", &a5000[..60])),
            (
                a1500.clone(),
                format!(
                    "{:?}… (1550 characters) names a resource of 1515 characters, but AWS's resource ids are at most 1024",
                    &a1500[..60]
                ),
            ),
        ] {
            let e = err(&MINIMAL.replace(CERT, &toml));
            assert_eq!(e.to_string(), format!("s.toml:7:19: certificate_arn {says}{fix}"));
        }
        // the same checks hold for every ARN of the stack: the Keycloak client secret, a brought KMS key
        let e = err(&KEYCLOAK.replace("secret:kc-client-AbCdEf", "secret:kc-client-AbCdEf\\u0000"));
        assert!(e.message.starts_with("client_secret_arn ") && e.message.ends_with(" contains the control character U+0000"), "{e}");
        let key = "arn:aws:kms:us-east-1:123456789012:key/../1234abcd";
        let e = err(&format!("{MINIMAL}[security]\nkms_key_arn = \"{key}\"\n"));
        assert_eq!(e.message, format!("kms_key_arn \"{key}\" has a \"..\" path segment, which no AWS resource name has"));
        assert_eq!(e.line, 9);
        let e = err(&format!("{MINIMAL}[state]\nbackend = \"s3\"\nbucket = \"b\"\nkey = \"k\"\nkms_key_id = \"alias/x\\u0007\"\n"));
        assert_eq!(e.message, "kms_key_id \"alias/x\\u{7}\" contains the control character U+0007");
        assert_eq!(e.line, 12);
    }

    #[test]
    fn issue_24_an_invisible_format_character_in_an_admin_arn_or_a_control_character_in_admin_email_is_refused() {
        // U+202E makes "role/admin" followed by "nimda" display as another name
        let e = err(&format!("{MINIMAL}[cluster]\nadmins = [\"arn:aws:iam::123456789012:role/admin\\u202Enimda\"]\n"));
        assert_eq!(
            e.to_string(),
            "s.toml:9:11: \"arn:aws:iam::123456789012:role/admin\\u{202e}nimda\" contains the invisible Unicode format character U+202E, which makes text display other than it reads\n  fix: write it like \"arn:aws:iam::123456789012:role/platform-admins\""
        );
        let e = err(&format!(
            "{MINIMAL}[cluster]\nadmins = [\"arn:aws:iam::123456789012:role/ops\", \"arn:aws:iam::123456789012:role/a\\u200Bdmin\"]\n"
        ));
        assert!(e.message.contains("U+200B"), "a zero-width space, in the second entry: {e}");
        for (bad, code) in
            [("admin\\u0000@example.org", "U+0000"), ("admin\\r\\n@example.org", "U+000D"), ("adm\\u202Ein@example.org", "U+202E")]
        {
            let e = err(&MINIMAL.replace("admin@example.org", bad));
            assert_eq!((e.line, e.column), (4, 15), "{e}");
            assert!(e.message.starts_with("admin_email \"adm") && e.message.contains(code), "{bad}: {e}");
            assert!(e.help.as_deref().unwrap().contains("admin@example.org"), "{e}");
        }
    }

    #[test]
    fn issue_24_reserved_tag_keys_are_refused_in_any_case() {
        for key in ["EMPI-INFRA:stack", "Empi-Infra:address", "empi-infra:owner", "Aws:cost", "AWS:x", "name", "NAME"] {
            let e = err(&format!("{MINIMAL}[tags]\n\"{key}\" = \"x\"\n"));
            assert_eq!(e.message, format!("tag key {key:?} is reserved"));
            assert!(e.help.as_deref().unwrap().contains("tag keys compare without case in IAM"), "{e}");
            assert_eq!(e.line, 9, "{e}");
        }
        assert!(Stack::parse("s.toml", &format!("{MINIMAL}[tags]\n\"empi-infra-owner\" = \"x\"\n\"awsome\" = \"y\"\n")).is_ok());
    }

    #[test]
    fn issue_24_more_instance_types_than_a_managed_node_group_takes_are_refused() {
        let types = |n: usize| (0..n).map(|i| format!("\"m{}i.large\"", 5 + i % 3)).collect::<Vec<_>>().join(", ");
        let e = err(&format!("{MINIMAL}[cluster.nodes]\ninstance_types = [{}]\n", types(21)));
        assert_eq!(
            e.to_string(),
            "s.toml:9:18: `instance_types` lists 21 types, but an EKS managed node group takes at most 20\n  fix: list at most 20 instance types, e.g. [\"m6i.large\", \"m6a.large\"]"
        );
        let e = err(&format!("{MINIMAL}[cluster.nodes]\ninstance_types = [{}]\n", types(10_000)));
        assert!(e.message.contains("lists 10000 types"), "{e}");
        assert!(Stack::parse("s.toml", &format!("{MINIMAL}[cluster.nodes]\ninstance_types = [{}]\n", types(20))).is_ok());
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
        let e = err(&MINIMAL.replace("[app]\n", "[app]\nmatching_job_namespace = \"kube-system\"\n"));
        assert!(e.message.starts_with("matching_job_namespace \"kube-system\" is one Kubernetes keeps for itself"), "{e}");
        // the jobs may run in `default`, which empi-infra uses but never makes or deletes
        assert_eq!(
            Stack::parse("s.toml", &MINIMAL.replace("[app]\n", "[app]\nmatching_job_namespace = \"default\"\n"))
                .unwrap()
                .app
                .matching_job_namespace,
            "default"
        );
    }
}
