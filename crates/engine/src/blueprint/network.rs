//! The network: VPC, subnets per zone, NAT gateways, routes, the default security group closed,
//! flow logs.

use super::*;
use crate::kinds::{network, routing};

/// The `i`-th subnet of the VPC CIDR, 4 bits longer (a /16 gives /20s).
pub fn subnet_cidr(vpc: &str, i: u32) -> String {
    let (ip, len) = parse_cidr(vpc).expect("validated CIDR");
    let new_len = len + crate::stack::SUBNET_BITS;
    let base = u32::from(ip);
    let step = 1u32 << (32 - new_len);
    format!("{}/{}", Ipv4Addr::from(base + i * step), new_len)
}

/// The availability zones of the stack: those chosen for it (pinned, recorded, or discovered in the
/// account: see `crate::zones`), or, before they are chosen (`validate`, `graph`), placeholders.
pub fn zones(stack: &Stack) -> Vec<String> {
    if !stack.network.zones.is_empty() {
        return stack.network.zones.clone();
    }
    (1..=stack.network.availability_zones).map(|i| format!("{}-zone{i}", stack.region)).collect()
}

/// What the other areas use of the network: subnet and route table ids, by zone.
pub(super) struct Network {
    pub(super) public_subnets: Vec<Expr>,
    pub(super) private_subnets: Vec<Expr>,
    pub(super) private_route_tables: Vec<Expr>,
}

pub(super) fn network_area(stack: &Stack, out: &mut Vec<ResourceSpec>) -> Network {
    let n = &stack.name;
    let azs = zones(stack);
    let nats = stack.network.nat_gateways as usize;
    let vpc_name = format!("{n}-vpc");
    out.push(
        network::Vpc {
            cidr_block: stack.network.cidr.as_str().into(),
            enable_dns_hostnames: true.into(),
            enable_dns_support: true.into(),
            tags: tags(stack, "network.vpc", &vpc_name),
        }
        .spec("network.vpc", &vpc_name),
    );
    let igw = format!("{n}-igw");
    out.push(
        routing::InternetGateway {
            vpc_id: r("network.vpc", "id"),
            tags: tags(stack, "network.internet_gateway", &igw),
        }
        .spec("network.internet_gateway", &igw),
    );
    let mut net = Network {
        public_subnets: Vec::new(),
        private_subnets: Vec::new(),
        private_route_tables: Vec::new(),
    };
    for (i, az) in azs.iter().enumerate() {
        for (kind, index, role_tag) in [
            ("public", i as u32, "kubernetes.io/role/elb"),
            ("private", 4 + i as u32, "kubernetes.io/role/internal-elb"),
        ] {
            let addr = format!("network.{kind}_subnet[{i}]");
            let name = format!("{n}-{kind}-{az}");
            let mut t = stack.resource_tags(&addr, &name);
            t.insert(role_tag.into(), "1".into());
            out.push(
                network::Subnet {
                    vpc_id: r("network.vpc", "id"),
                    cidr_block: subnet_cidr(&stack.network.cidr, index).into(),
                    availability_zone: az.as_str().into(),
                    map_public_ip_on_launch: false.into(),
                    tags: Expr::lit(serde_json::to_value(t).unwrap()),
                }
                .spec(&addr, &name),
            );
            if kind == "public" { &mut net.public_subnets } else { &mut net.private_subnets }
                .push(r(&addr, "id"));
        }
    }
    for j in 0..nats {
        let eip = format!("{n}-nat-{}", azs[j]);
        let (eip_addr, nat_addr) =
            (format!("network.nat_eip[{j}]"), format!("network.nat_gateway[{j}]"));
        out.push(routing::Eip { tags: tags(stack, &eip_addr, &eip) }.spec(&eip_addr, &eip));
        out.push(
            routing::NatGateway {
                subnet_id: net.public_subnets[j].clone(),
                allocation_id: r(&eip_addr, "id"),
                tags: tags(stack, &nat_addr, &eip),
            }
            .spec(&nat_addr, &eip)
            .after("network.internet_gateway"),
        );
    }
    let default_route = |target: (&str, Expr)| {
        list(vec![obj(vec![("destination_cidr_block", s("0.0.0.0/0")), target])])
    };
    let public_rt = format!("{n}-public");
    out.push(
        routing::RouteTable {
            vpc_id: r("network.vpc", "id"),
            routes: default_route(("gateway_id", r("network.internet_gateway", "id"))),
            tags: tags(stack, "network.public_route_table", &public_rt),
        }
        .spec("network.public_route_table", &public_rt),
    );
    for (i, az) in azs.iter().enumerate() {
        let name = format!("{n}-private-{az}");
        let addr = format!("network.private_route_table[{i}]");
        out.push(
            routing::RouteTable {
                vpc_id: r("network.vpc", "id"),
                routes: default_route((
                    "nat_gateway_id",
                    r(&format!("network.nat_gateway[{}]", i.min(nats - 1)), "id"),
                )),
                tags: tags(stack, &addr, &name),
            }
            .spec(&addr, &name),
        );
        net.private_route_tables.push(r(&addr, "id"));
        for (kind, rt) in
            [("public", r("network.public_route_table", "id")), ("private", r(&addr, "id"))]
        {
            let subnet = if kind == "public" {
                net.public_subnets[i].clone()
            } else {
                net.private_subnets[i].clone()
            };
            out.push(
                routing::RouteTableAssociation { subnet_id: subnet, route_table_id: rt }.spec(
                    &format!("network.{kind}_route_table_association[{i}]"),
                    &format!("{n}-{kind}-{az}"),
                ),
            );
        }
    }
    let mut sg =
        |addr: &str, name: &str, description: &str, ingress: Vec<Expr>, egress: Vec<Expr>| {
            out.push(
                network::SecurityGroup {
                    vpc_id: r("network.vpc", "id"),
                    description: description.into(),
                    ingress: list(ingress),
                    egress: list(egress),
                    tags: tags(stack, addr, name),
                }
                .spec(addr, name),
            );
        };
    let from_sg = |g: &str| ("source_security_group_id", r(g, "id"));
    let anywhere = || ("cidr_block", s("0.0.0.0/0"));
    let myself = || ("self", Expr::lit(true));
    // the nodes and the database live in the private subnets; egress to them names their ranges, as
    // the groups naming each other both ways (ingress and egress) would be a cycle
    let private: Vec<String> =
        (0..azs.len()).map(|i| subnet_cidr(&stack.network.cidr, 4 + i as u32)).collect();
    let to_private = |from: u32, to: u32| -> Vec<Expr> {
        private.iter().map(|c| rule("tcp", from, to, ("cidr_block", s(c)))).collect()
    };
    let idp_port = stack.identity.keycloak().map(|k| https_port(&k.server_url)).unwrap_or(443);
    let https_out = |port: u32| -> Vec<Expr> {
        let mut v = vec![rule("tcp", 443, 443, anywhere())];
        if port != 443 {
            v.push(rule("tcp", port, port, anywhere()));
        }
        v
    };
    let node_ports = [API_NODE_PORT, API_HEALTH_NODE_PORT, FRONTEND_NODE_PORT];
    sg(
        "network.alb_security_group",
        &format!("{n}-alb"),
        "Tuva EMPI load balancer: HTTPS and HTTP from the internet",
        vec![rule("tcp", 443, 443, anywhere()), rule("tcp", 80, 80, anywhere())],
        // the node ports; and HTTPS to the identity provider's token and user-info endpoints, which
        // the load balancer calls itself when it authenticates a user
        node_ports.iter().flat_map(|&p| to_private(p, p)).chain(https_out(idp_port)).collect(),
    );
    sg(
        "network.node_security_group",
        &format!("{n}-nodes"),
        "Tuva EMPI worker nodes: node ports from the load balancer only",
        node_ports
            .iter()
            .map(|&p| rule("tcp", p, p, from_sg("network.alb_security_group")))
            // node to node (pods, CoreDNS) and the control plane, whose network interfaces carry this group too
            .chain([rule("-1", 0, 0, myself())])
            .collect(),
        // each other and the control plane; HTTPS for ECR, STS, EKS, Cognito, S3 and the VPC endpoints
        // (and the identity provider's admin API); PostgreSQL in the private subnets. DNS to the VPC
        // resolver, instance metadata and time sync are never filtered by security groups.
        [rule("-1", 0, 0, myself())]
            .into_iter()
            .chain(https_out(idp_port))
            .chain(to_private(5432, 5432))
            .collect(),
    );
    sg(
        "network.database_security_group",
        &format!("{n}-database"),
        "Tuva EMPI PostgreSQL: 5432 from the worker nodes only",
        vec![rule("tcp", 5432, 5432, from_sg("network.node_security_group"))],
        vec![],
    );
    sg(
        "network.endpoint_security_group",
        &format!("{n}-endpoints"),
        "Tuva EMPI VPC endpoints: HTTPS from the worker nodes only",
        vec![rule("tcp", 443, 443, from_sg("network.node_security_group"))],
        vec![],
    );
    let default_sg = format!("{n}-default");
    out.push(
        network::DefaultSecurityGroup {
            vpc_id: r("network.vpc", "id"),
            ingress: list(vec![]),
            egress: list(vec![]),
            tags: tags(stack, "network.default_security_group", &default_sg),
        }
        .spec("network.default_security_group", &default_sg),
    );
    for (svc, kind) in [("secretsmanager", "Interface"), ("logs", "Interface"), ("s3", "Gateway")] {
        let addr = format!("network.{svc}_endpoint");
        let name = format!("{n}-{svc}");
        let interface = kind == "Interface";
        out.push(
            routing::VpcEndpoint {
                vpc_id: r("network.vpc", "id"),
                service_name: format!("com.amazonaws.{}.{svc}", stack.region).into(),
                vpc_endpoint_type: kind.into(),
                tags: tags(stack, &addr, &name),
                subnet_ids: interface.then(|| list(net.private_subnets.clone())),
                security_group_ids: interface
                    .then(|| list(vec![r("network.endpoint_security_group", "id")])),
                private_dns_enabled: interface.then(|| true.into()),
                route_table_ids: (!interface).then(|| list(net.private_route_tables.clone())),
            }
            .spec(&addr, &name),
        );
    }
    net
}
