//! The stack file (`stacks/*.toml`): parsing with source spans, production defaults,
//! and validation whose every error names `file:line:column` and says how to fix it.
//!
//! [`RawStack`] mirrors the TOML with spans; [`Stack::load`] turns it into the resolved [`Stack`]
//! (defaults filled in, everything checked) that the rest of the engine uses.
//!
//! One file per table of the stack file, as Terraform's `internal/configs` has one per block: each
//! holds the table's `RawX` (what the parser reads, with spans; its doc comments are the JSON
//! Schema's descriptions), its resolved `XConfig`, the [`Validator`] method that turns one into the
//! other with every default and range, and its tests. This file holds the stack itself, its loading,
//! its errors and the validator's shared helpers; `catalog` holds AWS's catalogues and `text` the
//! predicates on strings.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

mod app;
mod catalog;
mod cluster;
mod database;
mod drift;
mod edge;
mod identity;
mod network;
mod security;
mod state;
mod tags;
mod target;
mod text;
mod timeouts;

pub use app::*;
pub use catalog::*;
pub use cluster::*;
pub use database::*;
pub use drift::*;
pub use edge::*;
pub use identity::*;
pub use network::*;
pub use security::*;
pub use state::*;
pub use tags::*;
pub use target::*;
use text::*;
use timeouts::*;

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
    #[schemars(
        with = "String",
        length(min = 1, max = 28),
        pattern(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    )]
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
    /// Deadlines by resource kind that replace the kind's defaults (docs/generated/KINDS.md lists the kinds
    /// and their defaults), e.g. `[timeouts.aws_db_instance] create = "90m"`. Default: none.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawTimeouts>")]
    timeouts: BTreeMap<String, S<RawTimeouts>>,
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

/// Maps byte offsets of one file to 1-based line and column.
struct Locator<'a> {
    file: &'a str,
    src: &'a str,
}

impl Locator<'_> {
    fn at(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> StackError {
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
    /// The RDS instance identifier of the stack's database: `<stack>-db`, or the restored
    /// instance `db restore` switched the stack to.
    pub fn database_identifier(&self) -> String {
        if self.database.restored_identifier.is_empty() {
            format!("{}-db", self.name)
        } else {
            self.database.restored_identifier.clone()
        }
    }

    pub fn resource_tags(&self, address: &str, physical_name: &str) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert("Name".into(), physical_name.to_string());
        tags.insert(TAG_STACK.into(), self.name.clone());
        tags.insert(TAG_REGION.into(), self.region.clone());
        tags.insert(TAG_ADDRESS.into(), address.to_string());
        tags
    }
}

/// The largest stack file read, in bytes (a stack file is a few kilobytes).
pub const STACK_FILE_LIMIT: u64 = 1 << 20;

/// An integer key's name, default and range, written once in its table's file: the schema
/// (`range`, `default`) and the validator read them there, and a test holds docs/STACK.md's
/// defaults column to the schema.
struct Int {
    key: &'static str,
    default: u32,
    min: i64,
    max: i64,
}

struct Validator<'a> {
    loc: &'a Locator<'a>,
    errors: Vec<StackError>,
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

    /// An integer key's value, or its default; out of its range, an error at the value.
    fn int(&mut self, v: &Option<S<i64>>, k: &Int) -> u32 {
        self.int_or(v, k, k.default)
    }

    /// [`Validator::int`] with a default that depends on other keys.
    fn int_or(&mut self, v: &Option<S<i64>>, k: &Int, default: u32) -> u32 {
        let (key, min, max) = (k.key, k.min, k.max);
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
        } else if let Some(why) = rds_name_problem(&name) {
            // the database and its parameter group are named after the stack (`<name>-db`,
            // `<name>-postgres16`): RDS would refuse them half an hour into the first apply
            self.err(
                &raw.name,
                format!("stack name {name:?} {why}, and RDS refuses such a name for the database and its parameter group"),
                "choose a name that starts with a letter and has no \"--\", like \"tuva-empi-prod\"",
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
        let database = self.database(raw.database, &region);
        let identity = self.identity(raw.identity, &name, &region);
        let app = self.app(raw.app, &region);
        let edge = self.edge(raw.edge);
        let security = self.security(raw.security, &region);
        let drift = self.drift(raw.drift);
        let target = self.target(raw.target);

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
}

impl Stack {
    /// The IAM scope of this stack's resources (`crate::kinds::Scope`); `account` is `*` when not
    /// known.
    pub fn iam_scope(&self, account: Option<&str>) -> crate::kinds::Scope {
        crate::kinds::Scope {
            partition: crate::arn::partition_of(&self.region).into(),
            account: account.unwrap_or("*").into(),
            region: self.region.clone(),
            stack: self.name.clone(),
            user_secrets: self
                .identity
                .keycloak()
                .map(|k| k.client_secret_arn.clone())
                .into_iter()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const MINIMAL: &str = r#"name = "tuva-empi-prod"
region = "us-east-1"
[identity]
admin_email = "admin@example.org"
[app]
hostname = "empi.example.org"
certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
"#;

    pub(super) const KEYCLOAK: &str = r#"name = "tuva-empi-prod"
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
    fn an_endpoint_open_to_the_internet_and_mfa_off_are_warned_about() {
        let s = Stack::parse("s.toml", MINIMAL).unwrap();
        let w = s.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("public_access_cidrs") && w[0].contains("0.0.0.0/0"), "{w:?}");
        let narrow = Stack::parse(
            "s.toml",
            &format!("{MINIMAL}[cluster]\npublic_access_cidrs = [\"203.0.113.0/24\"]\n"),
        )
        .unwrap();
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

    pub(super) fn err(src: &str) -> StackError {
        let e = Stack::parse("s.toml", src).expect_err("should be invalid");
        e.0[0].clone()
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
        assert_eq!(
            (s.security.log_retention_days, s.security.cloudtrail, s.security.force_destroy_logs),
            (365, false, false)
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_its_location() {
        let e = err(&format!("{MINIMAL}colour = \"blue\"\n"));
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert_eq!((e.line, e.column), (8, 1), "{e}");
        assert!(e.to_string().starts_with("s.toml:8:1: "), "{e}");
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
        let e = err(&format!("{MINIMAL}[database]\nengine_version = \"16.4.1\"\n"));
        assert!(e.message.contains("not a PostgreSQL version"), "{e}");
        // a minor or major RDS released after this release of empi-infra: `plan` asks RDS
        assert!(Stack::parse(
            "s.toml",
            &format!("{MINIMAL}[database]\nengine_version = \"16.99\"\n")
        )
        .is_ok());
        assert!(Stack::parse(
            "s.toml",
            &format!("{MINIMAL}[cluster]\nkubernetes_version = \"1.37\"\n")
        )
        .is_ok());
        let e = err(&format!("{MINIMAL}[database]\ninstance_class = \"db.huge\"\n"));
        assert!(e.message.contains("instance class"), "{e}");
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
        let src =
            format!("{MINIMAL}[database]\nengine_version = \"14\"\ninstance_class = \"db.huge\"\n");
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

    // --- issue #24: what `validate` accepted and must not ----------------------------------------

    pub(super) const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/abc";

    #[test]
    fn issue_24_arns_with_a_control_character_dot_dot_or_an_absurd_length_are_refused_where_they_are(
    ) {
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
        assert!(
            e.message.starts_with("client_secret_arn ")
                && e.message.ends_with(" contains the control character U+0000"),
            "{e}"
        );
        let key = "arn:aws:kms:us-east-1:123456789012:key/../1234abcd";
        let e = err(&format!("{MINIMAL}[security]\nkms_key_arn = \"{key}\"\n"));
        assert_eq!(
            e.message,
            format!(
                "kms_key_arn \"{key}\" has a \"..\" path segment, which no AWS resource name has"
            )
        );
        assert_eq!(e.line, 9);
        let e = err(&format!("{MINIMAL}[state]\nbackend = \"s3\"\nbucket = \"b\"\nkey = \"k\"\nkms_key_id = \"alias/x\\u0007\"\n"));
        assert_eq!(e.message, "kms_key_id \"alias/x\\u{7}\" contains the control character U+0007");
        assert_eq!(e.line, 12);
    }

    #[test]
    fn issue_24_an_invisible_format_character_in_an_admin_arn_or_a_control_character_in_admin_email_is_refused(
    ) {
        // U+202E makes "role/admin" followed by "nimda" display as another name
        let e = err(&format!(
            "{MINIMAL}[cluster]\nadmins = [\"arn:aws:iam::123456789012:role/admin\\u202Enimda\"]\n"
        ));
        assert_eq!(
            e.to_string(),
            "s.toml:9:11: \"arn:aws:iam::123456789012:role/admin\\u{202e}nimda\" contains the invisible Unicode format character U+202E, which makes text display other than it reads\n  fix: write it like \"arn:aws:iam::123456789012:role/platform-admins\""
        );
        let e = err(&format!(
            "{MINIMAL}[cluster]\nadmins = [\"arn:aws:iam::123456789012:role/ops\", \"arn:aws:iam::123456789012:role/a\\u200Bdmin\"]\n"
        ));
        assert!(e.message.contains("U+200B"), "a zero-width space, in the second entry: {e}");
        for (bad, code) in [
            ("admin\\u0000@example.org", "U+0000"),
            ("admin\\r\\n@example.org", "U+000D"),
            ("adm\\u202Ein@example.org", "U+202E"),
        ] {
            let e = err(&MINIMAL.replace("admin@example.org", bad));
            assert_eq!((e.line, e.column), (4, 15), "{e}");
            assert!(
                e.message.starts_with("admin_email \"adm") && e.message.contains(code),
                "{bad}: {e}"
            );
            assert!(e.help.as_deref().unwrap().contains("admin@example.org"), "{e}");
        }
    }

    #[test]
    fn issue_27_a_stack_name_rds_refuses_is_refused_where_it_is_written() {
        for (name, why) in
            [("9lives", "does not start with a letter"), ("tuva--prod", "two consecutive hyphens")]
        {
            let src = MINIMAL.replace("tuva-empi-prod", name);
            let e = err(&src);
            assert_eq!((e.line, e.column), (1, 8), "{name}: {e}");
            assert!(e.message.contains(why) && e.message.contains("RDS"), "{name}: {e}");
            assert!(e.help.as_deref().unwrap().contains("starts with a letter"), "{name}: {e}");
        }
        assert!(Stack::parse("s.toml", &MINIMAL.replace("tuva-empi-prod", "t9-lives")).is_ok());
    }
}
