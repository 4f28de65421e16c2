//! AWS's catalogues a stack is checked against: the regions, the PostgreSQL versions RDS offers,
//! the RDS instance classes and the node AMI types.

/// RDS PostgreSQL versions as of 2026-11-27: the majors, and the minors RDS offered in them. Only
/// a fallback: `plan` reads RDS's own list (`DescribeDBEngineVersions`) and judges the stack's
/// version with [`postgres_version_verdict`]; this table stands in where an endpoint does not
/// answer that call.
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

/// Minutes RDS typically keeps a database offline for a PostgreSQL major upgrade (RDS User Guide,
/// "Upgrading the PostgreSQL DB engine": the instance is unavailable during the upgrade, Multi-AZ
/// included); more for a large database with many objects.
pub const POSTGRES_MAJOR_UPGRADE_MINUTES: (u32, u32) = (10, 30);

/// The major of a PostgreSQL version (`16` of `16.4`).
pub fn postgres_major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// What `plan` makes of `wanted` (`[database] engine_version`, a major or a full version) against
/// the PostgreSQL versions RDS lists as available in `region`; `running` is the version the
/// stack's instance runs, if it exists. `Ok(None)`: usable; `Ok(Some(warning))`: usable, but RDS
/// has retired the version the instance runs; `Err(sentence)`: RDS would refuse it, said with the
/// fix.
pub fn postgres_version_verdict(
    wanted: &str,
    available: &[String],
    running: Option<&str>,
    region: &str,
) -> Result<Option<String>, String> {
    let major = postgres_major(wanted);
    let mut in_major: Vec<&str> =
        available.iter().map(String::as_str).filter(|v| postgres_major(v) == major).collect();
    in_major
        .sort_by_key(|v| v.split('.').map(|x| x.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>());
    let already = running
        .is_some_and(|r| r == wanted || (!wanted.contains('.') && postgres_major(r) == major));
    if in_major.is_empty() {
        let mut majors: Vec<&str> = available.iter().map(|v| postgres_major(v)).collect();
        majors.dedup();
        let sentence = format!(
            "RDS in {region} offers no PostgreSQL {major} version; set [database] engine_version to a major it offers: {}",
            majors.join(", ")
        );
        return if already { Ok(Some(sentence)) } else { Err(sentence) };
    }
    if !wanted.contains('.') || in_major.contains(&wanted) {
        return Ok(None);
    }
    let newest = in_major[in_major.len() - 1];
    if already {
        return Ok(Some(format!(
            "RDS in {region} no longer offers PostgreSQL {wanted}, which the database runs: RDS will upgrade it to a newer {major} minor in a maintenance window of its choosing; set [database] engine_version = \"{newest}\" to upgrade when you choose, or \"{major}\" to let RDS pick"
        )));
    }
    Err(format!(
        "RDS in {region} does not offer PostgreSQL {wanted}; set [database] engine_version = \"{major}\" (RDS picks its default minor and keeps it upgraded) or one of: {}",
        in_major.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn rds_live_list_judges_the_version() {
        let rds = listed(&["16.9", "16.10", "16.11", "17.6"]);
        assert_eq!(postgres_version_verdict("16", &rds, None, "eu-west-1"), Ok(None));
        assert_eq!(
            postgres_version_verdict("16.11", &rds, None, "eu-west-1"),
            Ok(None),
            "newer than the fallback table"
        );
        let e = postgres_version_verdict("16.4", &rds, None, "eu-west-1").unwrap_err();
        assert_eq!(e, "RDS in eu-west-1 does not offer PostgreSQL 16.4; set [database] engine_version = \"16\" (RDS picks its default minor and keeps it upgraded) or one of: 16.9, 16.10, 16.11");
        let w = postgres_version_verdict("16.4", &rds, Some("16.4"), "eu-west-1").unwrap().unwrap();
        assert!(w.contains("no longer offers PostgreSQL 16.4, which the database runs"), "{w}");
        assert!(w.contains("engine_version = \"16.11\""), "{w}");
        let e = postgres_version_verdict("18", &rds, None, "eu-west-1").unwrap_err();
        assert!(e.contains("offers no PostgreSQL 18 version") && e.ends_with("16, 17"), "{e}");
        assert!(
            postgres_version_verdict("16.4", &rds, Some("16.3"), "eu-west-1").is_err(),
            "moving to a retired minor"
        );
    }
}
