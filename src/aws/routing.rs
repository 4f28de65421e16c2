//! Internet and private egress: internet gateway, Elastic IPs, NAT gateways, route tables and their
//! subnet associations, and VPC endpoints (Secrets Manager, CloudWatch Logs, S3).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, Filter, ResourceType, VpcEndpointType};
use aws_sdk_ec2::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, Operation, ProviderError, ProviderResult, Readiness, Registry, Resource, Schema};
use serde_json::{json, Value};

use super::network::{by_tags, ec2_tags, is_at, not_found, retag, tag_spec};
use super::{attrs, aws_err, b, s, sorted, strings, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(InternetGateway(c.ec2.clone())));
    r.register(Arc::new(ElasticIp(c.ec2.clone())));
    r.register(Arc::new(NatGateway(c.ec2.clone())));
    r.register(Arc::new(RouteTable(c.ec2.clone())));
    r.register(Arc::new(RouteTableAssociation(c.ec2.clone())));
    r.register(Arc::new(VpcEndpoint(c.ec2.clone())));
}

fn ok_if_gone<T, E: aws_sdk_ec2::error::ProvideErrorMetadata>(
    r: Result<T, aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>>,
) -> ProviderResult<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match r {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) => Err(aws_err(e)),
    }
}

// ── internet gateway ─────────────────────────────────────────────────────────────

pub struct InternetGateway(Client);

static IGW: Schema = Schema {
    kind: "aws_internet_gateway",
    // attaching is part of the resource: a gateway left unattached (a crash between the two
    // calls) is attached by an update rather than replaced
    attrs: &[AttrSchema::updatable("vpc_id"), AttrSchema::updatable("tags")],
    stateful: false,
    run_once: false,
    typical_create_secs: 3,
};

#[async_trait]
impl Resource for InternetGateway {
    fn schema(&self) -> &'static Schema {
        &IGW
    }
    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self.0.describe_internet_gateways().set_filters(Some(by_tags(name, address))).send().await.map_err(aws_err)?;
        Ok(r.internet_gateways().iter().find(|g| is_at(g.tags(), address)).and_then(|g| g.internet_gateway_id()).map(String::from))
    }
    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_internet_gateways().internet_gateway_ids(id).send().await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(g) = r.internet_gateways().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([("vpc_id", json!(g.attachments().first().and_then(|a| a.vpc_id()))), ("tags", ec2_tags(g.tags()))]),
            outputs: attrs([("id", json!(id))]),
        }))
    }
    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, a))
            .send()
            .await
            .map_err(aws_err)?;
        let id = r
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| ProviderError::new("CreateInternetGateway returned no id"))?
            .to_string();
        self.0.attach_internet_gateway().internet_gateway_id(&id).vpc_id(s(a, "vpc_id")).send().await.map_err(aws_err)?;
        Ok(id)
    }
    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "vpc_id") {
            let live = self.read(id, old).await?.and_then(|o| o.attrs.get("vpc_id").and_then(|v| v.as_str().map(String::from)));
            if let Some(vpc) = live.filter(|v| v != s(new, "vpc_id")) {
                self.detach(id, &vpc).await?;
            }
            self.0.attach_internet_gateway().internet_gateway_id(id).vpc_id(s(new, "vpc_id")).send().await.map_err(aws_err)?;
        }
        if changed.iter().any(|c| c == "tags") {
            retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }
    async fn delete(&self, id: &str, recorded: &Attrs) -> ProviderResult<()> {
        self.detach(id, s(recorded, "vpc_id")).await?;
        ok_if_gone(self.0.delete_internet_gateway().internet_gateway_id(id).send().await)
    }
}

impl InternetGateway {
    /// Detaches; a gateway that is not attached (a create cut short) is fine.
    async fn detach(&self, id: &str, vpc: &str) -> ProviderResult<()> {
        match self.0.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send().await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) || super::code_of(&e) == Some("Gateway.NotAttached") => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── Elastic IP ───────────────────────────────────────────────────────────────────

pub struct ElasticIp(Client);

static EIP: Schema =
    Schema { kind: "aws_eip", attrs: &[AttrSchema::updatable("tags")], stateful: false, run_once: false, typical_create_secs: 2 };

#[async_trait]
impl Resource for ElasticIp {
    fn schema(&self) -> &'static Schema {
        &EIP
    }
    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self.0.describe_addresses().set_filters(Some(by_tags(name, address))).send().await.map_err(aws_err)?;
        Ok(r.addresses().iter().find(|a| is_at(a.tags(), address)).and_then(|a| a.allocation_id()).map(String::from))
    }
    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_addresses().allocation_ids(id).send().await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(a) = r.addresses().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([("tags", ec2_tags(a.tags()))]),
            outputs: attrs([("id", json!(id)), ("public_ip", json!(a.public_ip()))]),
        }))
    }
    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, a))
            .send()
            .await
            .map_err(aws_err)?;
        r.allocation_id().map(String::from).ok_or_else(|| ProviderError::new("AllocateAddress returned no allocation id"))
    }
    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        retag(&self.0, id, old, new).await
    }
    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        ok_if_gone(self.0.release_address().allocation_id(id).send().await)
    }
}

// ── NAT gateway ──────────────────────────────────────────────────────────────────

pub struct NatGateway(Client);

static NAT: Schema = Schema {
    kind: "aws_nat_gateway",
    attrs: &[AttrSchema::force_new("subnet_id"), AttrSchema::force_new("allocation_id"), AttrSchema::updatable("tags")],
    stateful: false,
    run_once: false,
    typical_create_secs: 120,
};

impl NatGateway {
    async fn describe(&self, id: &str) -> ProviderResult<Option<aws_sdk_ec2::types::NatGateway>> {
        match self.0.describe_nat_gateways().nat_gateway_ids(id).send().await {
            Ok(r) => Ok(r.nat_gateways().first().cloned()),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }
}

fn nat_gone(g: &aws_sdk_ec2::types::NatGateway) -> bool {
    matches!(g.state().map(|s| s.as_str()), Some("deleted") | Some("deleting") | Some("failed"))
}

#[async_trait]
impl Resource for NatGateway {
    fn schema(&self) -> &'static Schema {
        &NAT
    }
    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self.0.describe_nat_gateways().set_filter(Some(by_tags(name, address))).send().await.map_err(aws_err)?;
        Ok(r.nat_gateways().iter().find(|g| !nat_gone(g) && is_at(g.tags(), address)).and_then(|g| g.nat_gateway_id()).map(String::from))
    }
    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(g) = self.describe(id).await?.filter(|g| !nat_gone(g)) else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("subnet_id", json!(g.subnet_id())),
                ("allocation_id", json!(g.nat_gateway_addresses().first().and_then(|a| a.allocation_id()))),
                ("tags", ec2_tags(g.tags())),
            ]),
            outputs: attrs([("id", json!(id))]),
        }))
    }
    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_nat_gateway()
            .subnet_id(s(a, "subnet_id"))
            .allocation_id(s(a, "allocation_id"))
            .tag_specifications(tag_spec(ResourceType::Natgateway, a))
            .send()
            .await
            .map_err(aws_err)?;
        r.nat_gateway()
            .and_then(|g| g.nat_gateway_id())
            .map(String::from)
            .ok_or_else(|| ProviderError::new("CreateNatGateway returned no id"))
    }
    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        retag(&self.0, id, old, new).await
    }
    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        ok_if_gone(self.0.delete_nat_gateway().nat_gateway_id(id).send().await)
    }
    async fn wait(&self, id: &str, op: Operation, _recorded: &Attrs) -> ProviderResult<Readiness> {
        let g = self.describe(id).await?;
        let state = g.as_ref().and_then(|g| g.state()).map(|s| s.as_str().to_string());
        Ok(match (op, state.as_deref()) {
            (Operation::Delete, None | Some("deleted")) => Readiness::Ready,
            (Operation::Delete, Some(s)) => Readiness::Pending(s.into()),
            (_, Some("available")) => Readiness::Ready,
            (_, Some("failed")) => {
                let why = g.and_then(|g| g.failure_message).unwrap_or_default();
                return Err(ProviderError::coded("NatGatewayFailed", format!("NAT gateway {id} failed: {why}")));
            }
            (_, Some(s)) => Readiness::Pending(s.into()),
            (_, None) => return Err(ProviderError::coded("InvalidNatGatewayID.NotFound", format!("NAT gateway {id} disappeared"))),
        })
    }
}

// ── route table ──────────────────────────────────────────────────────────────────

pub struct RouteTable(Client);

static ROUTE_TABLE: Schema = Schema {
    kind: "aws_route_table",
    attrs: &[AttrSchema::force_new("vpc_id"), AttrSchema::updatable("routes").set(), AttrSchema::updatable("tags")],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

fn route_value(r: &aws_sdk_ec2::types::Route) -> Option<Value> {
    let dest = r.destination_cidr_block()?;
    if r.gateway_id() == Some("local") {
        return None;
    }
    Some(match (r.gateway_id(), r.nat_gateway_id()) {
        (Some(g), _) => json!({"destination_cidr_block": dest, "gateway_id": g}),
        (_, Some(n)) => json!({"destination_cidr_block": dest, "nat_gateway_id": n}),
        _ => json!({"destination_cidr_block": dest}),
    })
}

impl RouteTable {
    async fn put_route(&self, id: &str, route: &Value, replace: bool) -> ProviderResult<()> {
        let dest = route["destination_cidr_block"].as_str().unwrap_or_default();
        macro_rules! send {
            ($b:expr) => {{
                let mut b = $b.route_table_id(id).destination_cidr_block(dest);
                if let Some(g) = route.get("gateway_id").and_then(Value::as_str) {
                    b = b.gateway_id(g);
                }
                if let Some(n) = route.get("nat_gateway_id").and_then(Value::as_str) {
                    b = b.nat_gateway_id(n);
                }
                b.send().await.map(|_| ()).map_err(aws_err)
            }};
        }
        if replace {
            send!(self.0.replace_route())
        } else {
            send!(self.0.create_route())
        }
    }
}

#[async_trait]
impl Resource for RouteTable {
    fn schema(&self) -> &'static Schema {
        &ROUTE_TABLE
    }
    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self.0.describe_route_tables().set_filters(Some(by_tags(name, address))).send().await.map_err(aws_err)?;
        Ok(r.route_tables().iter().find(|t| is_at(t.tags(), address)).and_then(|t| t.route_table_id()).map(String::from))
    }
    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_route_tables().route_table_ids(id).send().await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(t) = r.route_tables().first() else { return Ok(None) };
        let mut routes: Vec<Value> = t.routes().iter().filter_map(route_value).collect();
        routes.sort_by_key(|v| v.to_string());
        Ok(Some(Observed {
            attrs: attrs([("vpc_id", json!(t.vpc_id())), ("routes", Value::Array(routes)), ("tags", ec2_tags(t.tags()))]),
            outputs: attrs([("id", json!(id))]),
        }))
    }
    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_route_table()
            .vpc_id(s(a, "vpc_id"))
            .tag_specifications(tag_spec(ResourceType::RouteTable, a))
            .send()
            .await
            .map_err(aws_err)?;
        let id = r
            .route_table()
            .and_then(|t| t.route_table_id())
            .ok_or_else(|| ProviderError::new("CreateRouteTable returned no id"))?
            .to_string();
        for route in a.get("routes").and_then(Value::as_array).cloned().unwrap_or_default() {
            self.put_route(&id, &route, false).await?;
        }
        Ok(id)
    }
    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "routes") {
            let live = self.read(id, old).await?.and_then(|o| o.attrs.get("routes").and_then(Value::as_array).cloned()).unwrap_or_default();
            let want = new.get("routes").and_then(Value::as_array).cloned().unwrap_or_default();
            let dest = |v: &Value| v["destination_cidr_block"].as_str().unwrap_or_default().to_string();
            for w in &want {
                if !live.contains(w) {
                    let exists = live.iter().any(|l| dest(l) == dest(w));
                    self.put_route(id, w, exists).await?;
                }
            }
            for l in &live {
                if !want.iter().any(|w| dest(w) == dest(l)) {
                    self.0.delete_route().route_table_id(id).destination_cidr_block(dest(l)).send().await.map_err(aws_err)?;
                }
            }
        }
        if changed.iter().any(|c| c == "tags") {
            retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }
    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        ok_if_gone(self.0.delete_route_table().route_table_id(id).send().await)
    }
}

// ── route table association ──────────────────────────────────────────────────────

pub struct RouteTableAssociation(Client);

static ASSOCIATION: Schema = Schema {
    kind: "aws_route_table_association",
    attrs: &[AttrSchema::force_new("subnet_id"), AttrSchema::updatable("route_table_id")],
    stateful: false,
    run_once: false,
    typical_create_secs: 1,
};

impl RouteTableAssociation {
    async fn lookup(&self, filter: Filter) -> ProviderResult<Option<(String, String, String)>> {
        let r = self.0.describe_route_tables().filters(filter.clone()).send().await.map_err(aws_err)?;
        let want_name = filter.name().unwrap_or_default().to_string();
        let want = filter.values().first().cloned().unwrap_or_default();
        for t in r.route_tables() {
            for a in t.associations() {
                let hit = if want_name == "association.subnet-id" {
                    a.subnet_id() == Some(want.as_str())
                } else {
                    a.route_table_association_id() == Some(want.as_str())
                };
                if hit {
                    return Ok(Some((
                        a.route_table_association_id().unwrap_or_default().into(),
                        a.subnet_id().unwrap_or_default().into(),
                        t.route_table_id().unwrap_or_default().into(),
                    )));
                }
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Resource for RouteTableAssociation {
    fn schema(&self) -> &'static Schema {
        &ASSOCIATION
    }
    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.lookup(Filter::builder().name("association.subnet-id").values(s(inputs, "subnet_id")).build()).await?.map(|(id, _, _)| id))
    }
    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some((id, subnet, table)) =
            self.lookup(Filter::builder().name("association.route-table-association-id").values(id).build()).await?
        else {
            return Ok(None);
        };
        Ok(Some(Observed {
            attrs: attrs([("subnet_id", json!(subnet)), ("route_table_id", json!(table))]),
            outputs: attrs([("id", json!(id))]),
        }))
    }
    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .associate_route_table()
            .subnet_id(s(a, "subnet_id"))
            .route_table_id(s(a, "route_table_id"))
            .send()
            .await
            .map_err(aws_err)?;
        r.association_id().map(String::from).ok_or_else(|| ProviderError::new("AssociateRouteTable returned no id"))
    }
    async fn update(&self, id: &str, _old: &Attrs, new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        self.0
            .replace_route_table_association()
            .association_id(id)
            .route_table_id(s(new, "route_table_id"))
            .send()
            .await
            .map_err(aws_err)?;
        Ok(())
    }
    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        ok_if_gone(self.0.disassociate_route_table().association_id(id).send().await)
    }
}

// ── VPC endpoint ─────────────────────────────────────────────────────────────────

pub struct VpcEndpoint(Client);

static ENDPOINT: Schema = Schema {
    kind: "aws_vpc_endpoint",
    attrs: &[
        AttrSchema::force_new("vpc_id"),
        AttrSchema::force_new("service_name"),
        AttrSchema::force_new("vpc_endpoint_type"),
        AttrSchema::updatable("subnet_ids").set(),
        AttrSchema::updatable("security_group_ids").set(),
        AttrSchema::updatable("route_table_ids").set(),
        AttrSchema::updatable("private_dns_enabled"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 60,
};

impl VpcEndpoint {
    async fn describe(&self, id: &str) -> ProviderResult<Option<aws_sdk_ec2::types::VpcEndpoint>> {
        match self.0.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await {
            Ok(r) => Ok(r
                .vpc_endpoints()
                .first()
                .cloned()
                .filter(|e| !matches!(e.state().map(|s| s.as_str()), Some("deleted") | Some("Deleted")))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }
}

fn delta(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    (new.iter().filter(|x| !old.contains(x)).cloned().collect(), old.iter().filter(|x| !new.contains(x)).cloned().collect())
}

#[async_trait]
impl Resource for VpcEndpoint {
    fn schema(&self) -> &'static Schema {
        &ENDPOINT
    }
    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self.0.describe_vpc_endpoints().set_filters(Some(by_tags(name, address))).send().await.map_err(aws_err)?;
        Ok(r.vpc_endpoints().iter().find(|e| is_at(e.tags(), address)).and_then(|e| e.vpc_endpoint_id()).map(String::from))
    }
    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(e) = self.describe(id).await? else { return Ok(None) };
        let interface = e.vpc_endpoint_type() == Some(&VpcEndpointType::Interface);
        let mut a = attrs([
            ("vpc_id", json!(e.vpc_id())),
            ("service_name", json!(e.service_name())),
            ("vpc_endpoint_type", json!(e.vpc_endpoint_type().map(|t| t.as_str()))),
            ("tags", ec2_tags(e.tags())),
        ]);
        if interface {
            a.insert("subnet_ids".into(), sorted(e.subnet_ids().to_vec()));
            a.insert("security_group_ids".into(), sorted(e.groups().iter().filter_map(|g| g.group_id().map(String::from)).collect()));
            a.insert("private_dns_enabled".into(), json!(e.private_dns_enabled().unwrap_or(false)));
        } else {
            a.insert("route_table_ids".into(), sorted(e.route_table_ids().to_vec()));
        }
        let _ = recorded;
        Ok(Some(Observed { attrs: a, outputs: attrs([("id", json!(id))]) }))
    }
    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let mut req = self
            .0
            .create_vpc_endpoint()
            .vpc_id(s(a, "vpc_id"))
            .service_name(s(a, "service_name"))
            .vpc_endpoint_type(VpcEndpointType::from(s(a, "vpc_endpoint_type")))
            .tag_specifications(tag_spec(ResourceType::VpcEndpoint, a));
        if s(a, "vpc_endpoint_type") == "Interface" {
            req = req
                .set_subnet_ids(Some(strings(a, "subnet_ids")))
                .set_security_group_ids(Some(strings(a, "security_group_ids")))
                .private_dns_enabled(b(a, "private_dns_enabled"));
        } else {
            req = req.set_route_table_ids(Some(strings(a, "route_table_ids")));
        }
        let r = req.send().await.map_err(aws_err)?;
        r.vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .map(String::from)
            .ok_or_else(|| ProviderError::new("CreateVpcEndpoint returned no id"))
    }
    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        if has("subnet_ids") || has("security_group_ids") || has("route_table_ids") || has("private_dns_enabled") {
            let (add_sn, rm_sn) = delta(&strings(old, "subnet_ids"), &strings(new, "subnet_ids"));
            let (add_sg, rm_sg) = delta(&strings(old, "security_group_ids"), &strings(new, "security_group_ids"));
            let (add_rt, rm_rt) = delta(&strings(old, "route_table_ids"), &strings(new, "route_table_ids"));
            let mut m = self.0.modify_vpc_endpoint().vpc_endpoint_id(id);
            if !add_sn.is_empty() {
                m = m.set_add_subnet_ids(Some(add_sn))
            }
            if !rm_sn.is_empty() {
                m = m.set_remove_subnet_ids(Some(rm_sn))
            }
            if !add_sg.is_empty() {
                m = m.set_add_security_group_ids(Some(add_sg))
            }
            if !rm_sg.is_empty() {
                m = m.set_remove_security_group_ids(Some(rm_sg))
            }
            if !add_rt.is_empty() {
                m = m.set_add_route_table_ids(Some(add_rt))
            }
            if !rm_rt.is_empty() {
                m = m.set_remove_route_table_ids(Some(rm_rt))
            }
            if has("private_dns_enabled") {
                m = m.private_dns_enabled(b(new, "private_dns_enabled"))
            }
            m.send().await.map_err(aws_err)?;
        }
        if has("tags") {
            retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }
    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        ok_if_gone(self.0.delete_vpc_endpoints().vpc_endpoint_ids(id).send().await)
    }
}
