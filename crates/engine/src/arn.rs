//! Amazon Resource Names, parsed: `arn:partition:service:region:account:resource`.
//!
//! The stack file names certificates, secrets and IAM principals by ARN; each is checked here
//! for the parts AWS would refuse later (another partition, a missing account or id), so the
//! mistake is reported at its line by `validate` instead of by AWS in the middle of an apply.

/// The partitions AWS has, and the region prefixes that belong to each besides the commercial one.
const PARTITIONS: &[(&str, &[&str])] =
    &[("aws-cn", &["cn-"]), ("aws-us-gov", &["us-gov-"]), ("aws-iso", &["us-iso-"]), ("aws-iso-b", &["us-isob-"])];

/// One parsed ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// Everything after the account: `certificate/<id>`, `secret:<name>`, `role/<name>`.
    pub resource: &'a str,
}

/// The partition a region belongs to (`aws` for commercial regions).
pub fn partition_of(region: &str) -> &'static str {
    PARTITIONS.iter().find(|(_, prefixes)| prefixes.iter().any(|p| region.starts_with(p))).map(|(p, _)| *p).unwrap_or("aws")
}

impl<'a> Arn<'a> {
    /// Parses `s`, or says in a few words what is wrong with it.
    pub fn parse(s: &'a str) -> Result<Arn<'a>, String> {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return Err("is not an ARN (arn:partition:service:region:account:resource)".into());
        }
        let partition = parts[1];
        if partition != "aws" && !PARTITIONS.iter().any(|(p, _)| *p == partition) {
            return Err(format!("names the partition {partition:?}, which AWS does not have"));
        }
        if parts[2].is_empty() {
            return Err("names no service".into());
        }
        if parts[5].is_empty() {
            return Err("names no resource".into());
        }
        Ok(Arn { partition, service: parts[2], region: parts[3], account: parts[4], resource: parts[5] })
    }

    /// Whether the account is an AWS account id (12 digits).
    pub fn has_account(&self) -> bool {
        self.account.len() == 12 && self.account.bytes().all(|b| b.is_ascii_digit())
    }

    /// The resource id after `prefix` (`certificate/`, `secret:`), if present and non-empty.
    pub fn id_after(&self, prefix: &str) -> Option<&'a str> {
        self.resource.strip_prefix(prefix).filter(|id| !id.is_empty() && !id.contains(char::is_whitespace))
    }

    /// Checks an ARN the stack uses in `region`: the service, the partition of that region, an
    /// account id and a resource id after `prefix`. The error is a clause ("is in the partition …").
    pub fn check(s: &'a str, service: &str, region: Option<&str>, partition: &str, prefix: &str) -> Result<Arn<'a>, String> {
        let arn = Arn::parse(s)?;
        if arn.service != service {
            return Err(format!("is an ARN of {}, not of {service}", arn.service));
        }
        if arn.partition != partition {
            return Err(format!("is in the partition {:?}, but the stack's region is in {partition:?}", arn.partition));
        }
        if let Some(region) = region {
            if arn.region.is_empty() {
                return Err("names no region".into());
            }
            if arn.region != region {
                return Err(format!("is in {}, but the stack is in {region}", arn.region));
            }
        }
        if !arn.has_account() {
            return Err(format!("names the account {:?}, but an AWS account id is 12 digits", arn.account));
        }
        if arn.id_after(prefix).is_none() {
            return Err(format!("names no {} id after {prefix:?}", service));
        }
        Ok(arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_parts() {
        let a = Arn::parse("arn:aws:acm:us-east-1:123456789012:certificate/abc").unwrap();
        assert_eq!((a.partition, a.service, a.region, a.account), ("aws", "acm", "us-east-1", "123456789012"));
        assert_eq!(a.id_after("certificate/"), Some("abc"));
        let s = Arn::parse("arn:aws:secretsmanager:us-east-1:123456789012:secret:kc-AbCdEf").unwrap();
        assert_eq!(s.id_after("secret:"), Some("kc-AbCdEf"));
    }

    #[test]
    fn refuses_what_aws_refuses() {
        let c = |s| Arn::check(s, "acm", Some("us-east-1"), "aws", "certificate/");
        assert!(c("arn:aws:acm:us-east-1:123456789012:certificate/abc").is_ok());
        assert!(c("arn:aws-cn:acm:us-east-1:123456789012:certificate/abc").unwrap_err().contains("partition"));
        assert!(c("arn:aws:acm:us-east-1:123456789012:certificate/").unwrap_err().contains("no acm id"));
        assert!(c("arn:aws:acm:us-east-1:1234:certificate/abc").unwrap_err().contains("12 digits"));
        assert!(c("arn:aws:acm:eu-west-1:123456789012:certificate/abc").unwrap_err().contains("eu-west-1"));
        assert!(c("arn:aws:s3:::bucket").unwrap_err().contains("not of acm"));
        assert!(c("arn:nope:acm:us-east-1:123456789012:certificate/abc").unwrap_err().contains("does not have"));
        assert!(c("not-an-arn").unwrap_err().contains("not an ARN"));
    }

    #[test]
    fn regions_belong_to_partitions() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }
}
