//! `[cluster]` and `[cluster.nodes]`: the EKS cluster, its admins and its managed node group.

use super::*;

/// `min`: its default and range (the schema and the validator read them here).
const NODES_MIN: Int = Int { key: "min", default: 2, min: 0, max: 450 };
/// `max`: its default and range (the schema and the validator read them here).
const NODES_MAX: Int = Int { key: "max", default: 4, min: 1, max: 450 };
/// `desired`: its default and range (the schema and the validator read them here).
const NODES_DESIRED: Int = Int { key: "desired", default: 2, min: 0, max: 450 };

/// The EKS cluster.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cluster")]
pub(super) struct RawCluster {
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
    /// Versions pinned for the cluster's EKS managed add-ons. Default: none pinned, each at the
    /// default version EKS lists for the cluster's Kubernetes version (`DescribeAddonVersions`),
    /// chosen at the first plan and again when the Kubernetes version changes.
    #[schemars(with = "Option<RawAddons>")]
    addons: Option<S<RawAddons>>,
}

/// EKS add-on versions, e.g. `coredns = "v1.12.1-eksbuild.2"`: one EKS lists for the cluster's
/// Kubernetes version (`aws eks describe-addon-versions --kubernetes-version 1.34 --addon-name coredns`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Addons")]
pub(super) struct RawAddons {
    /// The Amazon VPC CNI plugin (pod networking).
    #[serde(rename = "vpc-cni")]
    #[schemars(rename = "vpc-cni", with = "Option<String>")]
    vpc_cni: Option<S<String>>,
    /// CoreDNS (the cluster's DNS).
    #[schemars(with = "Option<String>")]
    coredns: Option<S<String>>,
    /// kube-proxy (Service routing on each node).
    #[serde(rename = "kube-proxy")]
    #[schemars(rename = "kube-proxy", with = "Option<String>")]
    kube_proxy: Option<S<String>>,
}

/// The EKS add-ons empi-infra manages, in the order the plan lists them.
pub const ADDONS: [&str; 3] = ["vpc-cni", "coredns", "kube-proxy"];

/// One EKS managed add-on of the cluster.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AddonConfig {
    /// Its EKS name: one of [`ADDONS`].
    pub name: String,
    /// The version `[cluster.addons]` pins, if any.
    pub pinned: Option<String>,
    /// The version the stack asks for: the pin, or the default EKS lists for the cluster's
    /// Kubernetes version, placed by `plan` (empty until then: EKS's default at creation).
    pub version: String,
}

/// Whether `v` is written the way EKS names add-on versions (`v1.19.2-eksbuild.1`).
pub fn is_addon_version(v: &str) -> bool {
    let Some((semver, build)) = v.strip_prefix('v').and_then(|r| r.split_once("-eksbuild.")) else {
        return false;
    };
    let nums = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    semver.split('.').count() == 3 && semver.split('.').all(nums) && nums(build)
}

/// The EKS managed node group; node counts must satisfy min <= desired <= max.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Nodes")]
pub(super) struct RawNodes {
    /// EC2 instance types of the nodes, all of one architecture: Graviton types (m7g, c7g, t4g…)
    /// get the ARM AMI, the others the x86 one. At least one. Default: ["m6i.large"].
    #[schemars(with = "Option<Vec<String>>", length(min = 1), extend("default" = ["m6i.large"]))]
    instance_types: Option<S<Vec<S<String>>>>,
    /// The fewest nodes.
    #[schemars(with = "Option<i64>", range(min = NODES_MIN.min, max = NODES_MIN.max), extend("default" = NODES_MIN.default))]
    min: Option<S<i64>>,
    /// The most nodes.
    #[schemars(with = "Option<i64>", range(min = NODES_MAX.min, max = NODES_MAX.max), extend("default" = NODES_MAX.default))]
    max: Option<S<i64>>,
    /// The nodes wanted now; by default at least `min` and at most `max`.
    #[schemars(with = "Option<i64>", range(min = NODES_DESIRED.min, max = NODES_DESIRED.max), extend("default" = NODES_DESIRED.default))]
    desired: Option<S<i64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterConfig {
    pub kubernetes_version: String,
    pub public_access_cidrs: Vec<String>,
    pub nodes: NodesConfig,
    /// IAM principals (role or user ARNs) given cluster-admin access through EKS access entries.
    pub admins: Vec<String>,
    /// The managed add-ons, in the order of [`ADDONS`].
    pub addons: Vec<AddonConfig>,
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

/// The most instance types an EKS managed node group takes (CreateNodegroup's `instanceTypes`:
/// "you can specify 0-20 instance types").
pub const MAX_INSTANCE_TYPES: usize = 20;

impl Validator<'_> {
    pub(super) fn cluster(&mut self, raw: Option<S<RawCluster>>) -> ClusterConfig {
        let raw = raw.map(|r| r.into_inner()).unwrap_or(RawCluster {
            kubernetes_version: None,
            public_access_cidrs: None,
            nodes: None,
            admins: None,
            addons: None,
        });
        let admins: Vec<String> = match raw.admins {
            None => Vec::new(),
            Some(l) => {
                for a in l.get_ref() {
                    // what no ARN may hold (a control or invisible character, `..`, an absurd
                    // length) said as such; else whether it is a role or user
                    let why = crate::arn::hostile(a.get_ref()).or_else(|| {
                        (!is_iam_principal(a.get_ref()))
                            .then(|| "is not the ARN of an IAM role or user".to_string())
                    });
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
        let (kubernetes_version, kv) =
            self.string(raw.kubernetes_version, ev::newest(&today).version);
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
                // EKS may have shipped it since this release: `plan` asks EKS
                Support::Unknown if ev::newer_than_calendar(&kubernetes_version) => {}
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
                        None => self.err(
                            c,
                            format!("{:?} is not an IPv4 CIDR block", c.get_ref()),
                            "write it like \"203.0.113.0/24\"",
                        ),
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
            None => NodesConfig {
                instance_types: vec!["m6i.large".into()],
                ami_type: AMI_X86.into(),
                min: 2,
                max: 4,
                desired: 2,
            },
            Some(n) => {
                let span = n.span();
                let n = n.into_inner();
                let mut ami_type = AMI_X86;
                let instance_types = match n.instance_types {
                    None => vec!["m6i.large".to_string()],
                    Some(l) => {
                        if l.get_ref().is_empty() {
                            self.err(
                                &l,
                                "`instance_types` is empty",
                                "list at least one instance type, e.g. [\"m6i.large\"]",
                            );
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
                        let arches: Vec<&str> =
                            l.get_ref().iter().map(|t| architecture(t.get_ref())).collect();
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
                                    && t.get_ref()
                                        .chars()
                                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                            });
                            if !ok {
                                self.err(
                                    t,
                                    format!("{:?} is not an EC2 instance type", t.get_ref()),
                                    "write it like \"m6i.large\"",
                                );
                            }
                        }
                        l.into_iter().map(|t| t.into_inner()).collect()
                    }
                };
                let min = self.int(&n.min, &NODES_MIN);
                let max = self.int(&n.max, &NODES_MAX);
                let desired = self.int_or(
                    &n.desired,
                    &NODES_DESIRED,
                    min.max(NODES_DESIRED.default).min(max),
                );
                if !(min <= desired && desired <= max) {
                    let at = n
                        .desired
                        .as_ref()
                        .map(|d| d.span())
                        .or(n.min.as_ref().map(|d| d.span()))
                        .unwrap_or(span);
                    self.errors.push(self.loc.at(
                        at,
                        format!("node counts must satisfy min <= desired <= max, but min = {min}, desired = {desired}, max = {max}"),
                        "adjust [cluster.nodes] min, desired and max",
                    ));
                }
                NodesConfig { instance_types, ami_type: ami_type.into(), min, max, desired }
            }
        };
        let addons = self.addons(raw.addons);
        ClusterConfig { kubernetes_version, public_access_cidrs, nodes, admins, addons }
    }

    fn addons(&mut self, raw: Option<S<RawAddons>>) -> Vec<AddonConfig> {
        let raw = raw.map(|r| r.into_inner());
        let (vpc_cni, coredns, kube_proxy) = match raw {
            Some(r) => (r.vpc_cni, r.coredns, r.kube_proxy),
            None => (None, None, None),
        };
        ADDONS
            .iter()
            .zip([vpc_cni, coredns, kube_proxy])
            .map(|(name, pin)| {
                if let Some(p) = &pin {
                    if !is_addon_version(p.get_ref()) {
                        self.err(
                            p,
                            format!("{:?} is not an EKS add-on version", p.get_ref()),
                            format!("write it like \"v1.19.2-eksbuild.1\": one `aws eks describe-addon-versions --addon-name {name}` lists"),
                        );
                    }
                }
                let pinned = pin.map(|p| p.into_inner());
                AddonConfig {
                    name: name.to_string(),
                    version: pinned.clone().unwrap_or_default(),
                    pinned,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::tests::*;

    #[test]
    fn a_version_past_eks_support_is_refused_with_its_dates() {
        std::env::set_var("EMPI_INFRA_TODAY", "2026-11-27");
        let e = err(&format!("{MINIMAL}[cluster]\nkubernetes_version = \"1.29\"\n"));
        assert_eq!(
            e.message,
            "Kubernetes 1.29 is past EKS support: standard support ended 2025-03-23, extended support ended 2026-03-23, and EKS creates no clusters on it"
        );
        assert!(
            e.help.as_deref().unwrap().starts_with(
                "set kubernetes_version = \"1.36\" (standard support until 2027-08-02)"
            ),
            "{e}"
        );
        let s = Stack::parse("s.toml", MINIMAL).unwrap();
        assert_eq!(s.cluster.kubernetes_version, "1.36", "a new stack gets the newest version");
    }

    #[test]
    fn add_on_pins_are_checked_for_form_and_name() {
        let s = Stack::parse(
            "s.toml",
            &format!("{MINIMAL}[cluster.addons]\ncoredns = \"v1.12.1-eksbuild.2\"\n"),
        )
        .unwrap();
        let names: Vec<&str> = s.cluster.addons.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ADDONS);
        assert_eq!(s.cluster.addons[1].pinned.as_deref(), Some("v1.12.1-eksbuild.2"));
        assert_eq!(s.cluster.addons[0].pinned, None);
        let e = err(&format!("{MINIMAL}[cluster.addons]\nkube-proxy = \"1.34\"\n"));
        assert_eq!(e.message, "\"1.34\" is not an EKS add-on version");
        assert_eq!((e.line, e.column), (9, 14));
        let e = err(&format!(
            "{MINIMAL}[cluster.addons]\naws-ebs-csi-driver = \"v1.0.0-eksbuild.1\"\n"
        ));
        assert!(e.message.contains("aws-ebs-csi-driver"), "{e}");
        assert!(is_addon_version("v1.19.2-eksbuild.1") && !is_addon_version("v1.19-eksbuild.1"));
    }

    #[test]
    fn node_counts_must_be_ordered() {
        let e = err(&format!("{MINIMAL}[cluster.nodes]\nmin = 3\nmax = 4\ndesired = 2\n"));
        assert!(e.message.contains("min <= desired <= max"), "{e}");
        assert_eq!(e.line, 11);
    }

    #[test]
    fn finding_6_empty_public_access_cidrs_or_a_host_address_with_a_mask_are_refused() {
        let e = err(&format!("{MINIMAL}[cluster]\npublic_access_cidrs = []\n"));
        assert!(e.message.contains("is empty"), "{e}");
        let e = err(&format!("{MINIMAL}[cluster]\npublic_access_cidrs = [\"203.0.113.7/24\"]\n"));
        assert!(e.message.contains("host address with a mask"), "{e}");
        assert!(
            e.help.as_deref().unwrap().contains("203.0.113.0/24")
                && e.help.as_deref().unwrap().contains("203.0.113.7/32"),
            "{e}"
        );
        assert!(Stack::parse(
            "s.toml",
            &format!(
                "{MINIMAL}[cluster]\npublic_access_cidrs = [\"0.0.0.0/0\", \"203.0.113.7/32\"]\n"
            )
        )
        .is_ok());
    }

    #[test]
    fn issue_24_more_instance_types_than_a_managed_node_group_takes_are_refused() {
        let types = |n: usize| {
            (0..n).map(|i| format!("\"m{}i.large\"", 5 + i % 3)).collect::<Vec<_>>().join(", ")
        };
        let e = err(&format!("{MINIMAL}[cluster.nodes]\ninstance_types = [{}]\n", types(21)));
        assert_eq!(
            e.to_string(),
            "s.toml:9:18: `instance_types` lists 21 types, but an EKS managed node group takes at most 20\n  fix: list at most 20 instance types, e.g. [\"m6i.large\", \"m6a.large\"]"
        );
        let e = err(&format!("{MINIMAL}[cluster.nodes]\ninstance_types = [{}]\n", types(10_000)));
        assert!(e.message.contains("lists 10000 types"), "{e}");
        assert!(Stack::parse(
            "s.toml",
            &format!("{MINIMAL}[cluster.nodes]\ninstance_types = [{}]\n", types(20))
        )
        .is_ok());
    }
}
