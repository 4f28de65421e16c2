//! Network resources: VPC, subnets, security groups.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, UserIdGroupPair};
use aws_sdk_ec2::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, ProviderError, ProviderResult, Registry, Resource, Schema};
use serde_json::{json, Value};

use super::{attrs, aws_err, b, code_of, s, tag_delta, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(Vpc(c.ec2.clone())));
    r.register(Arc::new(Subnet(c.ec2.clone())));
    r.register(Arc::new(SecurityGroup(c.ec2.clone())));
}

pub(crate) fn tag_spec(rt: ResourceType, a: &Attrs) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .build()
}

pub(crate) fn ec2_tags(t: &[Tag]) -> Value {
    tags_value(t.iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())))
}

/// The EC2 objects named `name` (names are unique per stack and type). Filter values are
/// patterns (`*`, `?`; moto: also `[...]`), so the address — which has brackets — is checked
/// with [`is_at`] on the results rather than filtered on.
pub(crate) fn by_tags(name: &str, _address: &str) -> Vec<Filter> {
    vec![Filter::builder().name("tag:Name").values(name).build()]
}

/// Whether an object carries this resource address's tag.
pub(crate) fn is_at(tags: &[Tag], address: &str) -> bool {
    tags.iter().any(|t| t.key() == Some(empi_engine::stack::TAG_ADDRESS) && t.value() == Some(address))
}

pub(crate) async fn retag(ec2: &Client, id: &str, old: &Attrs, new: &Attrs) -> ProviderResult<()> {
    let (set, remove) = tag_delta(&tags(old), &tags(new));
    if !remove.is_empty() {
        ec2.delete_tags()
            .resources(id)
            .set_tags(Some(remove.into_iter().map(|k| Tag::builder().key(k).build()).collect()))
            .send()
            .await
            .map_err(aws_err)?;
    }
    if !set.is_empty() {
        ec2.create_tags()
            .resources(id)
            .set_tags(Some(set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
            .send()
            .await
            .map_err(aws_err)?;
    }
    Ok(())
}

pub(crate) fn not_found<E: aws_sdk_ec2::error::ProvideErrorMetadata, R>(e: &aws_sdk_ec2::error::SdkError<E, R>) -> bool {
    code_of(e).is_some_and(|c| c.ends_with(".NotFound") || c == "InvalidGroup.NotFound")
}

// ── VPC ──────────────────────────────────────────────────────────────────────────

pub struct Vpc(Client);

static VPC: Schema = Schema {
    kind: "aws_vpc",
    attrs: &[
        AttrSchema::force_new("cidr_block"),
        AttrSchema::updatable("enable_dns_hostnames"),
        AttrSchema::updatable("enable_dns_support"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

impl Vpc {
    async fn set_dns(&self, id: &str, a: &Attrs, only: Option<&[String]>) -> ProviderResult<()> {
        let want = |k: &str| only.is_none_or(|o| o.iter().any(|x| x == k));
        if want("enable_dns_support") {
            self.0
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_support(AttributeBooleanValue::builder().value(b(a, "enable_dns_support")).build())
                .send()
                .await
                .map_err(aws_err)?;
        }
        if want("enable_dns_hostnames") {
            self.0
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(AttributeBooleanValue::builder().value(b(a, "enable_dns_hostnames")).build())
                .send()
                .await
                .map_err(aws_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Vpc {
    fn schema(&self) -> &'static Schema {
        &VPC
    }

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self.0.describe_vpcs().set_filters(Some(by_tags(name, address))).send().await.map_err(aws_err)?;
        Ok(r.vpcs().iter().find(|v| is_at(v.tags(), address)).and_then(|v| v.vpc_id()).map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_vpcs().vpc_ids(id).send().await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(v) = r.vpcs().first() else { return Ok(None) };
        let dns_support = self
            .0
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport)
            .send()
            .await
            .map_err(aws_err)?;
        let dns_hostnames = self
            .0
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
            .send()
            .await
            .map_err(aws_err)?;
        Ok(Some(Observed {
            attrs: attrs([
                ("cidr_block", json!(v.cidr_block())),
                ("enable_dns_support", json!(dns_support.enable_dns_support().and_then(|x| x.value()).unwrap_or(false))),
                ("enable_dns_hostnames", json!(dns_hostnames.enable_dns_hostnames().and_then(|x| x.value()).unwrap_or(false))),
                ("tags", ec2_tags(v.tags())),
            ]),
            outputs: attrs([("id", json!(id)), ("cidr_block", json!(v.cidr_block()))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_vpc()
            .cidr_block(s(a, "cidr_block"))
            .tag_specifications(tag_spec(ResourceType::Vpc, a))
            .send()
            .await
            .map_err(aws_err)?;
        let id = r.vpc().and_then(|v| v.vpc_id()).ok_or_else(|| ProviderError::new("CreateVpc returned no id"))?.to_string();
        self.set_dns(&id, a, None).await?;
        Ok(id)
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        self.set_dns(id, new, Some(changed)).await?;
        if changed.iter().any(|c| c == "tags") {
            retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_vpc().vpc_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── subnet ───────────────────────────────────────────────────────────────────────

pub struct Subnet(Client);

static SUBNET: Schema = Schema {
    kind: "aws_subnet",
    attrs: &[
        AttrSchema::force_new("vpc_id"),
        AttrSchema::force_new("cidr_block"),
        AttrSchema::force_new("availability_zone"),
        AttrSchema::updatable("map_public_ip_on_launch"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

#[async_trait]
impl Resource for Subnet {
    fn schema(&self) -> &'static Schema {
        &SUBNET
    }

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self.0.describe_subnets().set_filters(Some(by_tags(name, address))).send().await.map_err(aws_err)?;
        Ok(r.subnets().iter().find(|v| is_at(v.tags(), address)).and_then(|v| v.subnet_id()).map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_subnets().subnet_ids(id).send().await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(sn) = r.subnets().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(sn.vpc_id())),
                ("cidr_block", json!(sn.cidr_block())),
                ("availability_zone", json!(sn.availability_zone())),
                ("map_public_ip_on_launch", json!(sn.map_public_ip_on_launch().unwrap_or(false))),
                ("tags", ec2_tags(sn.tags())),
            ]),
            outputs: attrs([("id", json!(id)), ("availability_zone", json!(sn.availability_zone()))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_subnet()
            .vpc_id(s(a, "vpc_id"))
            .cidr_block(s(a, "cidr_block"))
            .availability_zone(s(a, "availability_zone"))
            .tag_specifications(tag_spec(ResourceType::Subnet, a))
            .send()
            .await
            .map_err(aws_err)?;
        let id = r.subnet().and_then(|v| v.subnet_id()).ok_or_else(|| ProviderError::new("CreateSubnet returned no id"))?.to_string();
        if b(a, "map_public_ip_on_launch") {
            self.update(&id, a, a, &["map_public_ip_on_launch".into()]).await?;
        }
        Ok(id)
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "map_public_ip_on_launch") {
            self.0
                .modify_subnet_attribute()
                .subnet_id(id)
                .map_public_ip_on_launch(AttributeBooleanValue::builder().value(b(new, "map_public_ip_on_launch")).build())
                .send()
                .await
                .map_err(aws_err)?;
        }
        if changed.iter().any(|c| c == "tags") {
            retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_subnet().subnet_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── security group ───────────────────────────────────────────────────────────────

pub struct SecurityGroup(Client);

static SG: Schema = Schema {
    kind: "aws_security_group",
    attrs: &[
        AttrSchema::force_new("vpc_id"),
        AttrSchema::force_new("description"),
        AttrSchema::updatable("ingress").set(),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

/// One ingress rule as the stack writes it: protocol, ports, and a source group or CIDR.
fn rule_to_permission(r: &Value) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol(r["protocol"].as_str().unwrap_or("tcp"))
        .from_port(r["from_port"].as_i64().unwrap_or(0) as i32)
        .to_port(r["to_port"].as_i64().unwrap_or(0) as i32);
    if let Some(g) = r.get("source_security_group_id").and_then(Value::as_str) {
        p = p.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build());
    }
    if let Some(c) = r.get("cidr_block").and_then(Value::as_str) {
        p = p.ip_ranges(IpRange::builder().cidr_ip(c).build());
    }
    p.build()
}

/// Live permissions as rules, one rule per source.
fn permissions_to_rules(ps: &[IpPermission]) -> Vec<Value> {
    let mut out = Vec::new();
    for p in ps {
        let base = |k: &str, v: &str| json!({"protocol": p.ip_protocol(), "from_port": p.from_port(), "to_port": p.to_port(), k: v});
        for g in p.user_id_group_pairs() {
            out.push(base("source_security_group_id", g.group_id().unwrap_or_default()));
        }
        for r in p.ip_ranges() {
            out.push(base("cidr_block", r.cidr_ip().unwrap_or_default()));
        }
    }
    out.sort_by_key(|v| v.to_string());
    out
}

fn rules(a: &Attrs) -> Vec<Value> {
    a.get("ingress").and_then(Value::as_array).cloned().unwrap_or_default()
}

#[async_trait]
impl Resource for SecurityGroup {
    fn schema(&self) -> &'static Schema {
        &SG
    }

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self
            .0
            .describe_security_groups()
            .filters(Filter::builder().name("group-name").values(name).build())
            .filters(Filter::builder().name("vpc-id").values(s(inputs, "vpc_id")).build())
            .send()
            .await
            .map_err(aws_err)?;
        Ok(r.security_groups().first().and_then(|g| g.group_id()).map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_security_groups().group_ids(id).send().await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(g) = r.security_groups().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(g.vpc_id())),
                ("description", json!(g.description())),
                ("ingress", Value::Array(permissions_to_rules(g.ip_permissions()))),
                ("tags", ec2_tags(g.tags())),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(g.group_name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_security_group()
            .group_name(name)
            .description(s(a, "description"))
            .vpc_id(s(a, "vpc_id"))
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, a))
            .send()
            .await
            .map_err(aws_err)?;
        let id = r.group_id().ok_or_else(|| ProviderError::new("CreateSecurityGroup returned no id"))?.to_string();
        let want = rules(a);
        if !want.is_empty() {
            self.0
                .authorize_security_group_ingress()
                .group_id(&id)
                .set_ip_permissions(Some(want.iter().map(rule_to_permission).collect()))
                .send()
                .await
                .map_err(aws_err)?;
        }
        Ok(id)
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "ingress") {
            // compare with what is live, so that rules added by hand are removed too
            let live = self.read(id, old).await?.map(|o| rules(&o.attrs)).unwrap_or_default();
            let want = rules(new);
            let revoke: Vec<IpPermission> = live.iter().filter(|r| !want.contains(r)).map(rule_to_permission).collect();
            let add: Vec<IpPermission> = want.iter().filter(|r| !live.contains(r)).map(rule_to_permission).collect();
            if !revoke.is_empty() {
                self.0.revoke_security_group_ingress().group_id(id).set_ip_permissions(Some(revoke)).send().await.map_err(aws_err)?;
            }
            if !add.is_empty() {
                self.0.authorize_security_group_ingress().group_id(id).set_ip_permissions(Some(add)).send().await.map_err(aws_err)?;
            }
        }
        if changed.iter().any(|c| c == "tags") {
            retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_security_group().group_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}
