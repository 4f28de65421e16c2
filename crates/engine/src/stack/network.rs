//! `[network]`: the VPC's CIDR and zones, and whether its subnets hold what AWS puts in them.

use super::*;

/// `cidr` when the stack names none.
pub const DEFAULT_CIDR: &str = "10.40.0.0/16";

/// `availability_zones`: its default and range (the schema and the validator read them here).
const ZONES: Int = Int { key: "availability_zones", default: 2, min: 2, max: 3 };
/// `nat_gateways`: its default and range (the schema and the validator read them here).
const NAT_GATEWAYS: Int = Int { key: "nat_gateways", default: 1, min: 1, max: 3 };

/// The VPC: a public and a private subnet per availability zone, NAT, VPC endpoints.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Network")]
pub(super) struct RawNetwork {
    /// The VPC's IPv4 address range: a network address with a prefix from /16 to /24; the subnets
    /// are its /+4 blocks.
    #[schemars(with = "Option<String>", extend("default" = DEFAULT_CIDR))]
    cidr: Option<S<String>>,
    /// How many availability zones the stack spans; by default as many as `zones` lists, if it does.
    #[schemars(with = "Option<i64>", range(min = ZONES.min, max = ZONES.max), extend("default" = ZONES.default))]
    availability_zones: Option<S<i64>>,
    /// NAT gateways: 1 (cheaper; the zones share it) or one per availability zone.
    #[schemars(with = "Option<i64>", range(min = NAT_GATEWAYS.min, max = NAT_GATEWAYS.max), extend("default" = NAT_GATEWAYS.default))]
    nat_gateways: Option<S<i64>>,
    /// The availability zones by name, e.g. ["us-east-1a", "us-east-1b"]: zones of the stack's
    /// region, each once, as many as `availability_zones`. Default: chosen from the account's at
    /// the first plan (available, needing no opt-in, taken by EKS) and recorded in state.
    #[schemars(with = "Option<Vec<String>>")]
    zones: Option<S<Vec<S<String>>>>,
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

/// How many bits longer than the VPC's prefix each subnet's is (`blueprint::subnet_cidr`).
pub const SUBNET_BITS: u8 = 4;

/// VPC addresses one worker node takes with the VPC CNI's defaults (an m6i.large: 3 network
/// interfaces of 10 addresses each).
pub(super) const ADDRESSES_PER_NODE: u32 = 30;

/// The network mask of a prefix length (`/0` masks nothing).
pub(super) fn netmask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - len.min(32) as u32).unwrap_or(0)
}

/// Whether `ip/len` lies inside a private block: RFC 1918 or the shared 100.64.0.0/10.
pub(super) fn is_private_block(ip: Ipv4Addr, len: u8) -> bool {
    let inside = |net: [u8; 4], net_len: u8| {
        len >= net_len
            && (u32::from(ip) >> (32 - net_len))
                == (u32::from(Ipv4Addr::from(net)) >> (32 - net_len))
    };
    inside([10, 0, 0, 0], 8)
        || inside([172, 16, 0, 0], 12)
        || inside([192, 168, 0, 0], 16)
        || inside([100, 64, 0, 0], 10)
}

/// The same network with a prefix short enough for `needed` addresses per subnet.
pub(super) fn suggest_cidr(cidr: &str, needed: u32) -> String {
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
    /// Whether the subnets cut from the VPC CIDR (4 bits longer: a /16 gives /20s) hold what AWS
    /// puts in them: an ALB needs a /27 or larger with 8 free addresses, and each node takes a VPC
    /// address per pod (the VPC CNI's default: about 30 on an m6i.large).
    pub(super) fn subnets_fit(
        &mut self,
        at: &S<String>,
        network: &NetworkConfig,
        nodes: &NodesConfig,
    ) {
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

    /// The network settings, and where the VPC CIDR was written (if it was).
    pub(super) fn network(
        &mut self,
        raw: Option<S<RawNetwork>>,
        region: &str,
    ) -> (NetworkConfig, Option<S<String>>) {
        let raw = raw.map(|r| r.into_inner()).unwrap_or(RawNetwork {
            cidr: None,
            availability_zones: None,
            nat_gateways: None,
            zones: None,
        });
        let (cidr, cidr_s) = self.string(raw.cidr, DEFAULT_CIDR);
        if let Some(s) = &cidr_s {
            match parse_cidr(&cidr) {
                None => self.err(
                    s,
                    format!("{cidr:?} is not an IPv4 CIDR block"),
                    "write it like \"10.40.0.0/16\"",
                ),
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
                            format!(
                                "use the network address, e.g. \"{}/{len}\"",
                                Ipv4Addr::from(u32::from(ip) & netmask(len))
                            ),
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
        let pinned: Vec<String> = raw
            .zones
            .as_ref()
            .map(|l| l.get_ref().iter().map(|z| z.get_ref().clone()).collect())
            .unwrap_or_default();
        let default_zones = if pinned.is_empty() { ZONES.default } else { pinned.len() as u32 };
        let availability_zones = self.int_or(&raw.availability_zones, &ZONES, default_zones) as u8;
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
                    format!(
                        "`zones` lists {} zones, but availability_zones = {availability_zones}",
                        pinned.len()
                    ),
                    "list as many zones as availability_zones (or leave availability_zones out)",
                );
            }
        }
        let nat_gateways = self.int(&raw.nat_gateways, &NAT_GATEWAYS) as u8;
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
        (
            NetworkConfig { cidr, availability_zones, nat_gateways, zones: pinned, zones_pinned },
            cidr_s,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::tests::*;

    #[test]
    fn finding_6_vpc_cidrs_aws_refuses_or_that_are_public_are_refused() {
        for bad in ["0.0.0.0/16", "224.0.0.0/16", "127.0.0.0/16", "8.8.0.0/16", "172.32.0.0/16"] {
            let e = err(&format!("{MINIMAL}[network]\ncidr = \"{bad}\"\n"));
            assert!(e.message.contains("not a private address block"), "{bad}: {e}");
            assert_eq!((e.line, e.column), (9, 8), "{bad}: {e}");
        }
        for good in ["10.40.0.0/16", "172.16.0.0/16", "192.168.0.0/16", "100.64.0.0/16"] {
            assert!(
                Stack::parse("s.toml", &format!("{MINIMAL}[network]\ncidr = \"{good}\"\n")).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn finding_6_subnets_smaller_than_eks_and_the_alb_need_are_refused() {
        // a /24 VPC gives /28 subnets: 11 usable addresses, no room for an ALB or pods
        let e = err(&format!("{MINIMAL}[network]\ncidr = \"10.40.0.0/24\"\n"));
        assert!(e.message.contains("/28 (11 usable addresses)"), "{e}");
        assert!(e.help.as_deref().unwrap().contains("10.40.0.0/"), "{e}");
        // the default 2 to 4 nodes fit a /20 VPC (/24 subnets), but not 40 nodes
        assert!(Stack::parse("s.toml", &format!("{MINIMAL}[network]\ncidr = \"10.40.0.0/20\"\n"))
            .is_ok());
        let big = format!("{MINIMAL}[network]\ncidr = \"10.40.0.0/20\"\n[cluster.nodes]\nmin = 2\nmax = 40\ndesired = 2\n");
        let e = err(&big);
        assert!(e.message.contains("up to 40 nodes"), "{e}");
        let fix = e.help.clone().unwrap();
        let suggested = fix.split('"').nth(1).unwrap().to_string();
        assert!(
            Stack::parse("s.toml", &big.replace("10.40.0.0/20", &suggested)).is_ok(),
            "the suggested {suggested} must fit"
        );
    }
}
