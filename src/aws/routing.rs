//! Internet and private egress: internet gateway, Elastic IPs, NAT gateways, route tables and their
//! subnet associations, and VPC endpoints (Secrets Manager, CloudWatch Logs, S3).

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, ResourceType, VpcEndpointType};
use aws_sdk_ec2::Client;
use empi_engine::kinds;
use empi_engine::kinds::routing::{
    EIP, INTERNET_GATEWAY, NAT_GATEWAY, ROUTE_TABLE, ROUTE_TABLE_ASSOCIATION, VPC_ENDPOINT,
};
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, done, returned, AwsError, AwsKind, AwsResult, Lifecycle, Tags};
use super::network::{by_name, ec2_retag, ec2_tags, tag_spec, the_one};
use super::{attrs, input_bool, input_str, sorted, strings, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, InternetGateway(c.ec2.clone()));
    add(r, ElasticIp(c.ec2.clone()));
    add(r, NatGateway(c.ec2.clone()));
    add(r, RouteTable(c.ec2.clone()));
    add(r, RouteTableAssociation(c.ec2.clone()));
    add(r, VpcEndpoint(c.ec2.clone()));
}

// ── internet gateway ─────────────────────────────────────────────────────────────

/// Attaching is part of the resource: a gateway left unattached (a crash between the two calls)
/// is attached by an update rather than replaced.
pub struct InternetGateway(Client);

impl InternetGateway {
    /// Detaches; a gateway that is not attached (a create cut short), or whose gateway or VPC is
    /// gone, is fine.
    async fn detach(&self, id: &str, vpc: &str) -> AwsResult<()> {
        match self
            .0
            .detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(AwsError::from)
        {
            // exactly these codes: the gateway or the VPC is gone, or it is not attached
            Err(e)
                if !e.code().is_some_and(|c| {
                    [
                        "InvalidInternetGatewayID.NotFound",
                        "InvalidVpcID.NotFound",
                        "Gateway.NotAttached",
                    ]
                    .contains(&c)
                }) =>
            {
                Err(e)
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl AwsKind for InternetGateway {
    const SCHEMA: &'static Schema = &INTERNET_GATEWAY;
    const NOT_FOUND: &'static [&'static str] = &["InvalidInternetGatewayID.NotFound"];

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_internet_gateways().set_filters(Some(by_name(name))).send().await?;
        the_one(
            r.internet_gateways().iter().map(|g| (g.internet_gateway_id(), g.tags())),
            name,
            address,
        )
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_internet_gateways().internet_gateway_ids(id).send().await?;
        let Some(g) = r.internet_gateways().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(g.attachments().first().and_then(|a| a.vpc_id()))),
                ("tags", ec2_tags(g.tags())),
            ]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, a))
            .send()
            .await?;
        let id = returned(
            r.internet_gateway().and_then(|g| g.internet_gateway_id()),
            "CreateInternetGateway",
        )?;
        self.0
            .attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(input_str(a, kinds::routing::InternetGateway::vpc_id))
            .send()
            .await?;
        Ok(id)
    }

    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        if changed.iter().any(|c| c == "vpc_id") {
            let live = self.read(id, old).await?.and_then(|o| {
                o.attrs
                    .get(kinds::routing::InternetGateway::vpc_id)
                    .and_then(|v| v.as_str().map(String::from))
            });
            if let Some(vpc) =
                live.filter(|v| v != input_str(new, kinds::routing::InternetGateway::vpc_id))
            {
                self.detach(id, &vpc).await?;
            }
            self.0
                .attach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(input_str(new, kinds::routing::InternetGateway::vpc_id))
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        self.detach(id, input_str(recorded, kinds::routing::InternetGateway::vpc_id)).await?;
        done(self.0.delete_internet_gateway().internet_gateway_id(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}

// ── Elastic IP ───────────────────────────────────────────────────────────────────

pub struct ElasticIp(Client);

#[async_trait]
impl AwsKind for ElasticIp {
    const SCHEMA: &'static Schema = &EIP;
    const NOT_FOUND: &'static [&'static str] = &["InvalidAllocationID.NotFound"];

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_addresses().set_filters(Some(by_name(name))).send().await?;
        the_one(r.addresses().iter().map(|a| (a.allocation_id(), a.tags())), name, address)
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_addresses().allocation_ids(id).send().await?;
        let Some(a) = r.addresses().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([("tags", ec2_tags(a.tags()))]),
            outputs: attrs([("id", json!(id)), ("public_ip", json!(a.public_ip()))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, a))
            .send()
            .await?;
        Ok(r.allocation_id()
            .map(String::from)
            .ok_or_else(|| ProviderError::new("AllocateAddress returned no allocation id"))?)
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.release_address().allocation_id(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}

// ── NAT gateway ──────────────────────────────────────────────────────────────────

pub struct NatGateway(Client);

impl NatGateway {
    async fn describe(&self, id: &str) -> AwsResult<Option<aws_sdk_ec2::types::NatGateway>> {
        Ok(self
            .0
            .describe_nat_gateways()
            .nat_gateway_ids(id)
            .send()
            .await?
            .nat_gateways()
            .first()
            .cloned())
    }
}

fn nat_state(g: &aws_sdk_ec2::types::NatGateway) -> &str {
    g.state().map(|s| s.as_str()).unwrap_or_default()
}

/// A deleted, deleting or failed NAT gateway is no longer the stack's.
fn nat_gone(g: &aws_sdk_ec2::types::NatGateway) -> bool {
    matches!(nat_state(g), "deleted" | "deleting" | "failed")
}

#[async_trait]
impl AwsKind for NatGateway {
    const SCHEMA: &'static Schema = &NAT_GATEWAY;
    const NOT_FOUND: &'static [&'static str] =
        &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"];
    const LIFECYCLE: Lifecycle = Lifecycle::Status { ready: &["available"], failed: &["failed"] };

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_nat_gateways().set_filter(Some(by_name(name))).send().await?;
        the_one(
            r.nat_gateways()
                .iter()
                .filter(|g| !nat_gone(g))
                .map(|g| (g.nat_gateway_id(), g.tags())),
            name,
            address,
        )
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(g) = self.describe(id).await?.filter(|g| !nat_gone(g)) else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("subnet_id", json!(g.subnet_id())),
                (
                    "allocation_id",
                    json!(g.nat_gateway_addresses().first().and_then(|a| a.allocation_id())),
                ),
                ("tags", ec2_tags(g.tags())),
            ]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_nat_gateway()
            .subnet_id(input_str(a, kinds::routing::NatGateway::subnet_id))
            .allocation_id(input_str(a, kinds::routing::NatGateway::allocation_id))
            .tag_specifications(tag_spec(ResourceType::Natgateway, a))
            .send()
            .await?;
        returned(r.nat_gateway().and_then(|g| g.nat_gateway_id()), "CreateNatGateway")
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_nat_gateway().nat_gateway_id(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }

    async fn status(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        let g = self.describe(id).await?.filter(|g| nat_state(g) != "deleted");
        Ok(g.map(|g| {
            (nat_state(&g).to_string(), g.failure_message().unwrap_or_default().to_string())
        }))
    }
}

// ── route table ──────────────────────────────────────────────────────────────────

pub struct RouteTable(Client);

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

fn routes(a: &Attrs) -> Vec<Value> {
    a.get("routes").and_then(Value::as_array).cloned().unwrap_or_default()
}

impl RouteTable {
    /// Creates `route`, or replaces the route to its destination.
    async fn put_route(&self, id: &str, route: &Value, replace: bool) -> AwsResult<()> {
        let dest = route["destination_cidr_block"].as_str().unwrap_or_default();
        let gateway = route.get("gateway_id").and_then(Value::as_str).map(String::from);
        let nat = route.get("nat_gateway_id").and_then(Value::as_str).map(String::from);
        if replace {
            let b = self.0.replace_route().route_table_id(id).destination_cidr_block(dest);
            b.set_gateway_id(gateway).set_nat_gateway_id(nat).send().await?;
        } else {
            let b = self.0.create_route().route_table_id(id).destination_cidr_block(dest);
            b.set_gateway_id(gateway).set_nat_gateway_id(nat).send().await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AwsKind for RouteTable {
    const SCHEMA: &'static Schema = &ROUTE_TABLE;
    const NOT_FOUND: &'static [&'static str] = &["InvalidRouteTableID.NotFound"];

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_route_tables().set_filters(Some(by_name(name))).send().await?;
        the_one(r.route_tables().iter().map(|t| (t.route_table_id(), t.tags())), name, address)
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_route_tables().route_table_ids(id).send().await?;
        let Some(t) = r.route_tables().first() else { return Ok(None) };
        let mut routes: Vec<Value> = t.routes().iter().filter_map(route_value).collect();
        routes.sort_by_key(|v| v.to_string());
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(t.vpc_id())),
                ("routes", Value::Array(routes)),
                ("tags", ec2_tags(t.tags())),
            ]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_route_table()
            .vpc_id(input_str(a, kinds::routing::RouteTable::vpc_id))
            .tag_specifications(tag_spec(ResourceType::RouteTable, a))
            .send()
            .await?;
        let id = returned(r.route_table().and_then(|t| t.route_table_id()), "CreateRouteTable")?;
        for route in routes(a) {
            self.put_route(&id, &route, false).await?;
        }
        Ok(id)
    }

    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        if changed.iter().any(|c| c == "routes") {
            // compare with what is live, so that routes added by hand are removed too
            let live = self.read(id, old).await?.map(|o| routes(&o.attrs)).unwrap_or_default();
            let want = routes(new);
            let dest =
                |v: &Value| v["destination_cidr_block"].as_str().unwrap_or_default().to_string();
            for w in &want {
                if !live.contains(w) {
                    let exists = live.iter().any(|l| dest(l) == dest(w));
                    self.put_route(id, w, exists).await?;
                }
            }
            for l in &live {
                if !want.iter().any(|w| dest(w) == dest(l)) {
                    self.0
                        .delete_route()
                        .route_table_id(id)
                        .destination_cidr_block(dest(l))
                        .send()
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_route_table().route_table_id(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}

// ── route table association ──────────────────────────────────────────────────────

pub struct RouteTableAssociation(Client);

impl RouteTableAssociation {
    /// The association (id, subnet, route table) of the subnet `value`, or with the id `value`.
    async fn lookup(
        &self,
        by_subnet: bool,
        value: &str,
    ) -> AwsResult<Option<(String, String, String)>> {
        let filter = if by_subnet {
            "association.subnet-id"
        } else {
            "association.route-table-association-id"
        };
        let r = self
            .0
            .describe_route_tables()
            .filters(aws_sdk_ec2::types::Filter::builder().name(filter).values(value).build())
            .send()
            .await?;
        for t in r.route_tables() {
            for a in t.associations() {
                let hit = if by_subnet { a.subnet_id() } else { a.route_table_association_id() }
                    == Some(value);
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
impl AwsKind for RouteTableAssociation {
    const SCHEMA: &'static Schema = &ROUTE_TABLE_ASSOCIATION;
    const NOT_FOUND: &'static [&'static str] = &["InvalidAssociationID.NotFound"];

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self
            .lookup(true, input_str(inputs, kinds::routing::RouteTableAssociation::subnet_id))
            .await?
            .map(|(id, _, _)| id))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some((id, subnet, table)) = self.lookup(false, id).await? else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([("subnet_id", json!(subnet)), ("route_table_id", json!(table))]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .associate_route_table()
            .subnet_id(input_str(a, kinds::routing::RouteTableAssociation::subnet_id))
            .route_table_id(input_str(a, kinds::routing::RouteTableAssociation::route_table_id))
            .send()
            .await?;
        Ok(r.association_id()
            .map(String::from)
            .ok_or_else(|| ProviderError::new("AssociateRouteTable returned no id"))?)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        done(
            self.0
                .replace_route_table_association()
                .association_id(id)
                .route_table_id(input_str(
                    new,
                    kinds::routing::RouteTableAssociation::route_table_id,
                ))
                .send(),
        )
        .await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.disassociate_route_table().association_id(id).send()).await
    }
}

// ── VPC endpoint ─────────────────────────────────────────────────────────────────

pub struct VpcEndpoint(Client);

fn delta(old: &[String], new: &[String]) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let add: Vec<String> = new.iter().filter(|x| !old.contains(x)).cloned().collect();
    let remove: Vec<String> = old.iter().filter(|x| !new.contains(x)).cloned().collect();
    ((!add.is_empty()).then_some(add), (!remove.is_empty()).then_some(remove))
}

#[async_trait]
impl AwsKind for VpcEndpoint {
    const SCHEMA: &'static Schema = &VPC_ENDPOINT;
    const NOT_FOUND: &'static [&'static str] = &["InvalidVpcEndpointId.NotFound"];

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_vpc_endpoints().set_filters(Some(by_name(name))).send().await?;
        the_one(r.vpc_endpoints().iter().map(|e| (e.vpc_endpoint_id(), e.tags())), name, address)
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await?;
        let Some(e) = r
            .vpc_endpoints()
            .first()
            .filter(|e| !matches!(e.state().map(|s| s.as_str()), Some("deleted" | "Deleted")))
        else {
            return Ok(None);
        };
        let mut a = attrs([
            ("vpc_id", json!(e.vpc_id())),
            ("service_name", json!(e.service_name())),
            ("vpc_endpoint_type", json!(e.vpc_endpoint_type().map(|t| t.as_str()))),
            ("tags", ec2_tags(e.tags())),
        ]);
        if e.vpc_endpoint_type() == Some(&VpcEndpointType::Interface) {
            a.insert("subnet_ids".into(), sorted(e.subnet_ids().to_vec()));
            a.insert(
                "security_group_ids".into(),
                sorted(e.groups().iter().filter_map(|g| g.group_id().map(String::from)).collect()),
            );
            a.insert("private_dns_enabled".into(), json!(e.private_dns_enabled().unwrap_or(false)));
        } else {
            a.insert("route_table_ids".into(), sorted(e.route_table_ids().to_vec()));
        }
        Ok(Some(Observed { attrs: a, outputs: attrs([("id", json!(id))]) }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let mut req = self
            .0
            .create_vpc_endpoint()
            .vpc_id(input_str(a, kinds::routing::VpcEndpoint::vpc_id))
            .service_name(input_str(a, kinds::routing::VpcEndpoint::service_name))
            .vpc_endpoint_type(VpcEndpointType::from(input_str(
                a,
                kinds::routing::VpcEndpoint::vpc_endpoint_type,
            )))
            .tag_specifications(tag_spec(ResourceType::VpcEndpoint, a));
        if input_str(a, kinds::routing::VpcEndpoint::vpc_endpoint_type) == "Interface" {
            req = req
                .set_subnet_ids(Some(strings(a, kinds::routing::VpcEndpoint::subnet_ids)))
                .set_security_group_ids(Some(strings(
                    a,
                    kinds::routing::VpcEndpoint::security_group_ids,
                )))
                .private_dns_enabled(input_bool(
                    a,
                    kinds::routing::VpcEndpoint::private_dns_enabled,
                ));
        } else {
            req = req.set_route_table_ids(Some(strings(
                a,
                kinds::routing::VpcEndpoint::route_table_ids,
            )));
        }
        let r = req.send().await?;
        returned(r.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()), "CreateVpcEndpoint")
    }

    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        let (add_sn, rm_sn) = delta(
            &strings(old, kinds::routing::VpcEndpoint::subnet_ids),
            &strings(new, kinds::routing::VpcEndpoint::subnet_ids),
        );
        let (add_sg, rm_sg) = delta(
            &strings(old, kinds::routing::VpcEndpoint::security_group_ids),
            &strings(new, kinds::routing::VpcEndpoint::security_group_ids),
        );
        let (add_rt, rm_rt) = delta(
            &strings(old, kinds::routing::VpcEndpoint::route_table_ids),
            &strings(new, kinds::routing::VpcEndpoint::route_table_ids),
        );
        let dns = changed
            .iter()
            .any(|c| c == "private_dns_enabled")
            .then(|| input_bool(new, kinds::routing::VpcEndpoint::private_dns_enabled));
        self.0
            .modify_vpc_endpoint()
            .vpc_endpoint_id(id)
            .set_add_subnet_ids(add_sn)
            .set_remove_subnet_ids(rm_sn)
            .set_add_security_group_ids(add_sg)
            .set_remove_security_group_ids(rm_sg)
            .set_add_route_table_ids(add_rt)
            .set_remove_route_table_ids(rm_rt)
            .set_private_dns_enabled(dns)
            .send()
            .await?;
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_vpc_endpoints().vpc_endpoint_ids(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}
