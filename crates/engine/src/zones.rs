//! Which availability zones a stack uses. Zone names differ per account and region (`ca-central-1`
//! has a, b and d; most accounts have no usable `ap-northeast-1b`), and EKS refuses some zones by
//! zone ID. So zones are chosen from the account's answer to `DescribeAvailabilityZones`, once, and
//! recorded in state (names and IDs): later plans use the recorded ones, so that a zone AWS adds
//! later never moves a subnet. A stack may pin them (`network.zones`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stack::Stack;

/// The state fact that records the chosen zones.
pub const FACT: &str = "zones";

/// One zone as AWS names it in this account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub name: String,
    pub id: String,
}

/// Zone IDs where EKS creates no control-plane network interfaces (EKS User Guide, "View Amazon
/// EKS networking requirements for VPC and subnets": "The subnets can't reside in the following
/// Availability Zones").
pub const EKS_UNSUPPORTED_ZONE_IDS: &[&str] = &["use1-az3", "usw1-az2", "cac1-az3"];

/// The zones recorded in state, if any.
pub fn recorded(facts: &std::collections::BTreeMap<String, Value>) -> Option<Vec<Zone>> {
    facts
        .get(FACT)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .filter(|z: &Vec<Zone>| !z.is_empty())
}

/// The zones of the stack: pinned ones (checked against the account's), else those recorded (and
/// more from the account if the stack now wants more), else the first `availability_zones` of the
/// account's usable ones by name. `usable` are the region's available zones, EKS-unsupported ones
/// already left out.
pub fn choose(
    stack: &Stack,
    recorded: Option<Vec<Zone>>,
    usable: &[Zone],
) -> Result<Vec<Zone>, String> {
    let n = stack.network.availability_zones as usize;
    let names: Vec<&str> = usable.iter().map(|z| z.name.as_str()).collect();
    if stack.network.zones_pinned {
        return stack
            .network
            .zones
            .iter()
            .map(|want| {
                usable.iter().find(|z| &z.name == want).cloned().ok_or_else(|| {
                    format!(
                        "network.zones names {want}, which this account cannot use for EKS in {} (usable zones: {}); list zones from those",
                        stack.region,
                        names.join(", ")
                    )
                })
            })
            .collect();
    }
    let mut chosen: Vec<Zone> = recorded.unwrap_or_default().into_iter().take(n).collect();
    let mut candidates: Vec<&Zone> =
        usable.iter().filter(|z| !chosen.iter().any(|c| c.name == z.name)).collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));
    for z in candidates {
        if chosen.len() == n {
            break;
        }
        chosen.push(z.clone());
    }
    if chosen.len() < n {
        return Err(format!(
            "the stack wants {n} availability zones, but this account can use only {} in {} for EKS ({}); set availability_zones = {}",
            usable.len(),
            stack.region,
            names.join(", "),
            usable.len()
        ));
    }
    Ok(chosen)
}

/// The account's zones as `DescribeAvailabilityZones` lists them (name, ID, state, opt-in status),
/// narrowed to those a stack can use: available, not needing an opt-in, and supported by EKS.
pub fn usable(all: Vec<(Zone, String, Option<String>)>) -> Vec<Zone> {
    all.into_iter()
        .filter(|(z, state, opt_in)| {
            state == "available"
                && opt_in.as_deref().is_none_or(|o| o == "opt-in-not-required")
                && !EKS_UNSUPPORTED_ZONE_IDS.contains(&z.id.as_str())
        })
        .map(|(z, _, _)| z)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn z(name: &str, id: &str) -> Zone {
        Zone { name: name.into(), id: id.into() }
    }

    fn stack(extra: &str) -> Stack {
        Stack::parse(
            "t.toml",
            &format!("name = \"t\"\nregion = \"ca-central-1\"\n[identity]\nadmin_email = \"a@b.org\"\n[app]\nhostname = \"empi.b.org\"\ncertificate_arn = \"arn:aws:acm:ca-central-1:123456789012:certificate/x\"\n{extra}"),
        )
        .unwrap()
    }

    /// ca-central-1 as moto (and many accounts) have it: a, b and d; cac1-az3 is not for EKS.
    fn ca() -> Vec<Zone> {
        usable(vec![
            (z("ca-central-1a", "cac1-az1"), "available".into(), None),
            (
                z("ca-central-1b", "cac1-az2"),
                "available".into(),
                Some("opt-in-not-required".into()),
            ),
            (z("ca-central-1d", "cac1-az4"), "available".into(), None),
            (z("ca-central-1c", "cac1-az3"), "available".into(), None),
            (
                z("ca-central-1-wl1", "cac1-wl1-az1"),
                "available".into(),
                Some("not-opted-in".into()),
            ),
        ])
    }

    #[test]
    fn zones_come_from_the_account_and_stay_put() {
        let three = stack("[network]\navailability_zones = 3\nnat_gateways = 1\n");
        let chosen = choose(&three, None, &ca()).unwrap();
        assert_eq!(
            chosen.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(),
            ["ca-central-1a", "ca-central-1b", "ca-central-1d"]
        );
        // a zone AWS adds later does not move a subnet: recorded zones win
        let mut more = ca();
        more.insert(0, z("ca-central-1aa", "cac1-az9"));
        assert_eq!(choose(&three, Some(chosen.clone()), &more).unwrap(), chosen);
        // growing from 2 to 3 keeps the first two
        let two = choose(&stack(""), None, &ca()).unwrap();
        assert_eq!(choose(&three, Some(two.clone()), &more).unwrap()[..2], two[..]);
    }

    #[test]
    fn pinned_zones_are_checked_against_the_account() {
        let pinned = stack("[network]\nzones = [\"ca-central-1a\", \"ca-central-1c\"]\n");
        let e = choose(&pinned, None, &ca()).unwrap_err();
        assert!(
            e.contains("network.zones names ca-central-1c, which this account cannot use for EKS"),
            "{e}"
        );
        let ok = stack("[network]\nzones = [\"ca-central-1d\", \"ca-central-1a\"]\n");
        assert_eq!(
            choose(&ok, None, &ca()).unwrap(),
            [z("ca-central-1d", "cac1-az4"), z("ca-central-1a", "cac1-az1")]
        );
    }

    #[test]
    fn too_few_usable_zones_is_one_sentence_with_the_fix() {
        let three = stack("[network]\navailability_zones = 3\nnat_gateways = 1\n");
        let e = choose(&three, None, &ca()[..2]).unwrap_err();
        assert!(e.ends_with("set availability_zones = 2"), "{e}");
    }
}
