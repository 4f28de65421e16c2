//! AWS's catalogues a stack is checked against: the regions, the PostgreSQL versions RDS offers,
//! the RDS instance classes and the node AMI types.

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
