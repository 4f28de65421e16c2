//! Amazon Resource Names, parsed: `arn:partition:service:region:account:resource`.
//!
//! The stack file names certificates, secrets and IAM principals by ARN; each is checked here
//! for the parts AWS would refuse later (another partition, a missing account or id), so the
//! mistake is reported at its line by `validate` instead of by AWS in the middle of an apply.

/// The partitions AWS has, and the region prefixes that belong to each besides the commercial one.
const PARTITIONS: &[(&str, &[&str])] = &[
    ("aws-cn", &["cn-"]),
    ("aws-us-gov", &["us-gov-"]),
    ("aws-iso", &["us-iso-"]),
    ("aws-iso-b", &["us-isob-"]),
];

/// The longest ARN accepted: AWS's APIs take ARNs of at most 2048 characters (IAM's `arnType`,
/// the longest of them).
pub const MAX_ARN: usize = 2048;
/// The longest resource part accepted (after the account): AWS's own are far shorter (an IAM role
/// name 64 characters with a path of at most 512, a secret name 512, ACM and KMS ids UUIDs).
pub const MAX_RESOURCE: usize = 1024;

/// Whether `c` is an invisible Unicode format control: the bidirectional embeddings, overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C), zero-width characters and the
/// other characters of Unicode's category Cf, and the line and paragraph separators. Such a
/// character makes text display other than it reads: `role/admin\u{202E}nimda` shows as
/// "role/adminadmin".
pub fn is_format_control(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{0890}'..='\u{0891}' | '\u{08E2}'
        | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// Why `s` holds a character no name, ARN or address of a stack should: a control character
/// (NUL, a newline, an escape) or an invisible format control ([`is_format_control`]). A clause.
pub fn hidden_char_problem(s: &str) -> Option<String> {
    let c = s.chars().find(|c| c.is_control() || is_format_control(*c))?;
    Some(if c.is_control() {
        format!("contains the control character U+{:04X}", c as u32)
    } else {
        format!("contains the invisible Unicode format character U+{:04X}, which makes text display other than it reads", c as u32)
    })
}

/// `s` quoted for a message: whole when short, else its start and its length, so that a
/// 5,000-character value does not fill the screen.
pub fn shown(s: &str) -> String {
    let n = s.chars().count();
    if n <= 120 {
        format!("{s:?}")
    } else {
        format!("{:?}… ({n} characters)", s.chars().take(60).collect::<String>())
    }
}

/// Why `s` is no ARN a stack should name, whatever its service: a control or invisible character,
/// more than [`MAX_ARN`] characters, a resource part (after the account) of more than
/// [`MAX_RESOURCE`], or a `..` path segment in it. A clause; `None` when it has none of these.
pub fn hostile(s: &str) -> Option<String> {
    if let Some(why) = hidden_char_problem(s) {
        return Some(why);
    }
    let n = s.chars().count();
    if n > MAX_ARN {
        return Some(format!("is {n} characters long, but an ARN has at most {MAX_ARN}"));
    }
    let resource = s.splitn(6, ':').nth(5).unwrap_or_default();
    let n = resource.chars().count();
    if n > MAX_RESOURCE {
        return Some(format!(
            "names a resource of {n} characters, but AWS's resource ids are at most {MAX_RESOURCE}"
        ));
    }
    if resource.split(['/', ':']).any(|seg| seg == "..") {
        return Some("has a \"..\" path segment, which no AWS resource name has".into());
    }
    None
}

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
/// The IAM principal EKS and IAM policies name for a caller `sts:GetCallerIdentity` describes: an
/// assumed role's role (`arn:aws:sts::1:assumed-role/R/session` → `arn:aws:iam::1:role/R`), a
/// user as it is. An SSO role's path (`aws-reserved/sso.amazonaws.com/…`) is not in the caller's
/// ARN, so the role's name alone is given, as EKS does for its creator's access entry.
pub fn iam_principal_of(caller: &str) -> String {
    let Some((head, resource)) = caller.split_once(":sts::") else { return caller.to_string() };
    let Some((account, rest)) = resource.split_once(':') else { return caller.to_string() };
    let rest = match rest.strip_prefix("assumed-role/") {
        Some(r) => format!("role/{}", r.split('/').next().unwrap_or_default()),
        None => rest.to_string(),
    };
    format!("{head}:iam::{account}:{rest}")
}

pub fn partition_of(region: &str) -> &'static str {
    PARTITIONS
        .iter()
        .find(|(_, prefixes)| prefixes.iter().any(|p| region.starts_with(p)))
        .map(|(p, _)| *p)
        .unwrap_or("aws")
}

impl<'a> Arn<'a> {
    /// Parses `s`, or says in a few words what is wrong with it.
    pub fn parse(s: &'a str) -> Result<Arn<'a>, String> {
        if let Some(why) = hostile(s) {
            return Err(why);
        }
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
        Ok(Arn {
            partition,
            service: parts[2],
            region: parts[3],
            account: parts[4],
            resource: parts[5],
        })
    }

    /// Whether the account is an AWS account id (12 digits).
    pub fn has_account(&self) -> bool {
        self.account.len() == 12 && self.account.bytes().all(|b| b.is_ascii_digit())
    }

    /// The resource id after `prefix` (`certificate/`, `secret:`), if present and non-empty.
    pub fn id_after(&self, prefix: &str) -> Option<&'a str> {
        self.resource
            .strip_prefix(prefix)
            .filter(|id| !id.is_empty() && !id.contains(char::is_whitespace))
    }

    /// Checks an ARN the stack uses in `region`: the service, the partition of that region, an
    /// account id and a resource id after `prefix`. The error is a clause ("is in the partition …").
    pub fn check(
        s: &'a str,
        service: &str,
        region: Option<&str>,
        partition: &str,
        prefix: &str,
    ) -> Result<Arn<'a>, String> {
        let arn = Arn::parse(s)?;
        if arn.service != service {
            return Err(format!("is an ARN of {}, not of {service}", arn.service));
        }
        if arn.partition != partition {
            return Err(format!(
                "is in the partition {:?}, but the stack's region is in {partition:?}",
                arn.partition
            ));
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
            return Err(format!(
                "names the account {:?}, but an AWS account id is 12 digits",
                arn.account
            ));
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
        assert_eq!(
            (a.partition, a.service, a.region, a.account),
            ("aws", "acm", "us-east-1", "123456789012")
        );
        assert_eq!(a.id_after("certificate/"), Some("abc"));
        let s =
            Arn::parse("arn:aws:secretsmanager:us-east-1:123456789012:secret:kc-AbCdEf").unwrap();
        assert_eq!(s.id_after("secret:"), Some("kc-AbCdEf"));
    }

    #[test]
    fn refuses_what_aws_refuses() {
        let c = |s| Arn::check(s, "acm", Some("us-east-1"), "aws", "certificate/");
        assert!(c("arn:aws:acm:us-east-1:123456789012:certificate/abc").is_ok());
        assert!(c("arn:aws-cn:acm:us-east-1:123456789012:certificate/abc")
            .unwrap_err()
            .contains("partition"));
        assert!(c("arn:aws:acm:us-east-1:123456789012:certificate/")
            .unwrap_err()
            .contains("no acm id"));
        assert!(c("arn:aws:acm:us-east-1:1234:certificate/abc").unwrap_err().contains("12 digits"));
        assert!(c("arn:aws:acm:eu-west-1:123456789012:certificate/abc")
            .unwrap_err()
            .contains("eu-west-1"));
        assert!(c("arn:aws:s3:::bucket").unwrap_err().contains("not of acm"));
        assert!(c("arn:nope:acm:us-east-1:123456789012:certificate/abc")
            .unwrap_err()
            .contains("does not have"));
        assert!(c("not-an-arn").unwrap_err().contains("not an ARN"));
    }

    #[test]
    fn control_and_invisible_characters_dot_dot_and_absurd_lengths_are_refused() {
        let c = |s: &str| {
            Arn::check(s, "acm", Some("us-east-1"), "aws", "certificate/").map(|_| ()).unwrap_err()
        };
        let ok = "arn:aws:acm:us-east-1:123456789012:certificate/abc";
        assert_eq!(c(&format!("{ok}\0x")), "contains the control character U+0000");
        assert_eq!(c(&format!("{ok}\u{1b}[2J")), "contains the control character U+001B");
        assert_eq!(
            c("arn:aws:acm:us-east-1:123456789012:certificate/abc\ndef"),
            "contains the control character U+000A"
        );
        for hidden in ['\u{202E}', '\u{200B}', '\u{2066}', '\u{FEFF}', '\u{E0041}'] {
            assert_eq!(
                c(&format!("arn:aws:acm:us-east-1:123456789012:certificate/ab{hidden}c")),
                format!(
                    "contains the invisible Unicode format character U+{:04X}, which makes text display other than it reads",
                    hidden as u32
                )
            );
        }
        assert_eq!(
            c("arn:aws:acm:us-east-1:123456789012:certificate/../abc"),
            "has a \"..\" path segment, which no AWS resource name has"
        );
        assert_eq!(
            c("arn:aws:acm:us-east-1:123456789012:certificate/a/.."),
            "has a \"..\" path segment, which no AWS resource name has"
        );
        assert!(
            Arn::parse("arn:aws:iam::123456789012:role/a..b").is_ok(),
            "two dots inside a name are no segment"
        );
        let long_id =
            format!("arn:aws:acm:us-east-1:123456789012:certificate/{}", "a".repeat(5000));
        assert_eq!(c(&long_id), "is 5047 characters long, but an ARN has at most 2048");
        let id = format!("arn:aws:acm:us-east-1:123456789012:certificate/{}", "a".repeat(1013));
        assert_eq!(
            c(&id),
            "names a resource of 1025 characters, but AWS's resource ids are at most 1024"
        );
        assert!(
            Arn::parse(&format!(
                "arn:aws:acm:us-east-1:123456789012:certificate/{}",
                "a".repeat(1012)
            ))
            .is_ok(),
            "1024 is the limit"
        );
    }

    #[test]
    fn a_long_value_is_shown_by_its_start_and_length() {
        assert_eq!(shown("ab\u{202E}c"), "\"ab\\u{202e}c\"");
        let long = "x".repeat(5000);
        assert_eq!(shown(&long), format!("\"{}\"… (5000 characters)", "x".repeat(60)));
    }

    #[test]
    fn regions_belong_to_partitions() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }

    #[test]
    fn a_caller_is_named_as_the_iam_principal_eks_and_policies_name() {
        assert_eq!(
            iam_principal_of("arn:aws:sts::123456789012:assumed-role/platform-admins/alice"),
            "arn:aws:iam::123456789012:role/platform-admins"
        );
        assert_eq!(
            iam_principal_of("arn:aws:sts::123456789012:user/moto"),
            "arn:aws:iam::123456789012:user/moto"
        );
        assert_eq!(
            iam_principal_of("arn:aws:iam::123456789012:user/bob"),
            "arn:aws:iam::123456789012:user/bob"
        );
        assert_eq!(
            iam_principal_of(
                "arn:aws-us-gov:sts::1:assumed-role/AWSReservedSSO_Admin_0123/bob@example.org"
            ),
            "arn:aws-us-gov:iam::1:role/AWSReservedSSO_Admin_0123"
        );
    }
}
