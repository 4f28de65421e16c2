//! Network kinds: VPC, subnets, security groups; and the EC2 helpers every EC2 kind shares (tags,
//! finding by the Name and address tags).

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};
use aws_sdk_ec2::Client;
use empi_engine::kinds;
use empi_engine::kinds::network::{DEFAULT_SECURITY_GROUP, SECURITY_GROUP, SUBNET, VPC};
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, done, AwsKind, AwsResult, Lifecycle, Tags};
use super::{attrs, input_bool, input_str, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, Vpc(c.ec2.clone()));
    add(r, Subnet(c.ec2.clone()));
    add(r, SecurityGroup(c.ec2.clone()));
    add(r, DefaultSecurityGroup(c.ec2.clone()));
}

pub(crate) fn tag_spec(rt: ResourceType, a: &Attrs) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(
            tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect(),
        ))
        .build()
}

pub(crate) fn ec2_tags(t: &[Tag]) -> Value {
    tags_value(t.iter().map(|t| {
        (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())
    }))
}

/// The EC2 objects named `name` (names are unique per stack and type). Filter values are
/// patterns (`*`, `?`; moto: also `[...]`), so the address — which has brackets — is checked
/// with [`is_at`] on the results rather than filtered on.
pub(crate) fn by_name(name: &str) -> Vec<Filter> {
    vec![Filter::builder().name("tag:Name").values(name).build()]
}

/// Whether an object carries this resource address's tag.
pub(crate) fn is_at(tags: &[Tag], address: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(empi_engine::stack::TAG_ADDRESS) && t.value() == Some(address))
}

/// The one object among `found` (id and tags) whose `Name` tag is `name` and whose address tag
/// is `address`, checked here rather than trusted to the server's filter. Two such objects are an
/// error naming both: which one is this stack's cannot be told, and neither is picked.
pub(crate) fn the_one<'a>(
    found: impl IntoIterator<Item = (Option<&'a str>, &'a [Tag])>,
    name: &str,
    address: &str,
) -> AwsResult<Option<String>> {
    let named =
        |tags: &[Tag]| tags.iter().any(|t| t.key() == Some("Name") && t.value() == Some(name));
    let ids: Vec<&str> = found
        .into_iter()
        .filter(|(_, tags)| named(tags) && is_at(tags, address))
        .filter_map(|(id, _)| id)
        .collect();
    match ids.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.to_string())),
        many => Err(ProviderError::coded(
            "DuplicateObjects",
            format!(
                "{} objects carry the name {name} and the address tag {address} ({}): empi-infra cannot tell which one is this stack's and touches neither; delete the one that should not exist, then run again",
                many.len(),
                many.join(", ")
            ),
        )
        .into()),
    }
}

/// Sets and removes tags of any EC2 object.
pub(crate) async fn ec2_retag(
    ec2: &Client,
    id: &str,
    set: Tags,
    remove: Vec<String>,
) -> AwsResult<()> {
    if !remove.is_empty() {
        let keys = remove.into_iter().map(|k| Tag::builder().key(k).build()).collect();
        ec2.delete_tags().resources(id).set_tags(Some(keys)).send().await?;
    }
    if !set.is_empty() {
        let t = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        ec2.create_tags().resources(id).set_tags(Some(t)).send().await?;
    }
    Ok(())
}

// ── VPC ──────────────────────────────────────────────────────────────────────────

pub struct Vpc(Client);

impl Vpc {
    async fn set_dns(&self, id: &str, a: &Attrs, only: Option<&[String]>) -> AwsResult<()> {
        let want = |k: &str| only.is_none_or(|o| o.iter().any(|x| x == k));
        let flag = |k: &str| AttributeBooleanValue::builder().value(input_bool(a, k)).build();
        if want("enable_dns_support") {
            self.0
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_support(flag("enable_dns_support"))
                .send()
                .await?;
        }
        if want("enable_dns_hostnames") {
            self.0
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(flag("enable_dns_hostnames"))
                .send()
                .await?;
        }
        Ok(())
    }

    async fn dns(
        &self,
        id: &str,
        attribute: aws_sdk_ec2::types::VpcAttributeName,
    ) -> AwsResult<bool> {
        let r =
            self.0.describe_vpc_attribute().vpc_id(id).attribute(attribute.clone()).send().await?;
        let v = match attribute {
            aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport => r.enable_dns_support(),
            _ => r.enable_dns_hostnames(),
        };
        Ok(v.and_then(|x| x.value()).unwrap_or(false))
    }
}

#[async_trait]
impl AwsKind for Vpc {
    const SCHEMA: &'static Schema = &VPC;
    const NOT_FOUND: &'static [&'static str] = &["InvalidVpcID.NotFound"];

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_vpcs().set_filters(Some(by_name(name))).send().await?;
        the_one(r.vpcs().iter().map(|v| (v.vpc_id(), v.tags())), name, address)
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_vpcs().vpc_ids(id).send().await?;
        let Some(v) = r.vpcs().first() else { return Ok(None) };
        use aws_sdk_ec2::types::VpcAttributeName::{EnableDnsHostnames, EnableDnsSupport};
        Ok(Some(Observed {
            attrs: attrs([
                ("cidr_block", json!(v.cidr_block())),
                ("enable_dns_support", json!(self.dns(id, EnableDnsSupport).await?)),
                ("enable_dns_hostnames", json!(self.dns(id, EnableDnsHostnames).await?)),
                ("tags", ec2_tags(v.tags())),
            ]),
            outputs: attrs([("id", json!(id)), ("cidr_block", json!(v.cidr_block()))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_vpc()
            .cidr_block(input_str(a, kinds::network::Vpc::cidr_block))
            .tag_specifications(tag_spec(ResourceType::Vpc, a))
            .send()
            .await?;
        let id = r
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| ProviderError::new("CreateVpc returned no id"))?
            .to_string();
        self.set_dns(&id, a, None).await?;
        Ok(id)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        self.set_dns(id, new, Some(changed)).await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_vpc().vpc_id(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}

// ── subnet ───────────────────────────────────────────────────────────────────────

pub struct Subnet(Client);

#[async_trait]
impl AwsKind for Subnet {
    const SCHEMA: &'static Schema = &SUBNET;
    const NOT_FOUND: &'static [&'static str] = &["InvalidSubnetID.NotFound"];

    async fn find(&self, name: &str, address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        // only in this stack's VPC (a subnet of that name elsewhere is not this one)
        let vpc = input_str(inputs, kinds::network::Subnet::vpc_id);
        let r = self
            .0
            .describe_subnets()
            .set_filters(Some(by_name(name)))
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .send()
            .await?;
        the_one(
            r.subnets()
                .iter()
                .filter(|v| v.vpc_id() == Some(vpc))
                .map(|v| (v.subnet_id(), v.tags())),
            name,
            address,
        )
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_subnets().subnet_ids(id).send().await?;
        let Some(sn) = r.subnets().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(sn.vpc_id())),
                ("cidr_block", json!(sn.cidr_block())),
                ("availability_zone", json!(sn.availability_zone())),
                ("map_public_ip_on_launch", json!(sn.map_public_ip_on_launch().unwrap_or(false))),
                ("tags", ec2_tags(sn.tags())),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("availability_zone", json!(sn.availability_zone())),
            ]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_subnet()
            .vpc_id(input_str(a, kinds::network::Subnet::vpc_id))
            .cidr_block(input_str(a, kinds::network::Subnet::cidr_block))
            .availability_zone(input_str(a, kinds::network::Subnet::availability_zone))
            .tag_specifications(tag_spec(ResourceType::Subnet, a))
            .send()
            .await?;
        let id = r
            .subnet()
            .and_then(|v| v.subnet_id())
            .ok_or_else(|| ProviderError::new("CreateSubnet returned no id"))?
            .to_string();
        if input_bool(a, kinds::network::Subnet::map_public_ip_on_launch) {
            self.update(&id, a, a, &["map_public_ip_on_launch".into()]).await?;
        }
        Ok(id)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        if changed.iter().any(|c| c == "map_public_ip_on_launch") {
            let on = AttributeBooleanValue::builder()
                .value(input_bool(new, kinds::network::Subnet::map_public_ip_on_launch))
                .build();
            self.0
                .modify_subnet_attribute()
                .subnet_id(id)
                .map_public_ip_on_launch(on)
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_subnet().subnet_id(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}

// ── security group ───────────────────────────────────────────────────────────────

pub struct SecurityGroup(Client);

/// One rule as the stack writes it: protocol, ports, and a peer (`source_security_group_id`,
/// `cidr_block`, or `self: true` for the group `own` itself). Protocol `-1` (all) has no ports.
fn rule_to_permission(r: &Value, own: &str) -> IpPermission {
    let protocol = r["protocol"].as_str().unwrap_or("tcp");
    let mut p = IpPermission::builder().ip_protocol(protocol);
    if protocol != "-1" {
        p = p
            .from_port(r["from_port"].as_i64().unwrap_or(0) as i32)
            .to_port(r["to_port"].as_i64().unwrap_or(0) as i32);
    }
    if let Some(g) = r.get("source_security_group_id").and_then(Value::as_str) {
        p = p.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build());
    }
    if r.get("self").and_then(Value::as_bool) == Some(true) {
        p = p.user_id_group_pairs(UserIdGroupPair::builder().group_id(own).build());
    }
    if let Some(c) = r.get("cidr_block").and_then(Value::as_str) {
        p = p.ip_ranges(IpRange::builder().cidr_ip(c).build());
    }
    p.build()
}

/// Live permissions as rules, one rule per peer; the group `own` itself is `self: true`, and
/// protocol `-1` (all) has ports 0 to 0 as the stack writes it (AWS reports none).
fn permissions_to_rules(ps: &[IpPermission], own: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for p in ps {
        let all = p.ip_protocol() == Some("-1");
        let port = |x: Option<i32>| if all { Some(0) } else { x };
        let base = |k: &str, v: Value| json!({"protocol": p.ip_protocol(), "from_port": port(p.from_port()), "to_port": port(p.to_port()), k: v});
        for g in p.user_id_group_pairs() {
            let id = g.group_id().unwrap_or_default();
            out.push(if id == own {
                base("self", json!(true))
            } else {
                base("source_security_group_id", json!(id))
            });
        }
        for r in p.ip_ranges() {
            out.push(base("cidr_block", json!(r.cidr_ip().unwrap_or_default())));
        }
        for r in p.ipv6_ranges() {
            out.push(base("ipv6_cidr_block", json!(r.cidr_ipv6().unwrap_or_default())));
        }
    }
    out.sort_by_key(|v| v.to_string());
    out
}

fn rules(a: &Attrs, direction: &str) -> Vec<Value> {
    a.get(direction).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The group's ingress and egress rules as attributes.
fn read_rules(g: &aws_sdk_ec2::types::SecurityGroup, id: &str) -> [(&'static str, Value); 2] {
    [
        ("ingress", Value::Array(permissions_to_rules(g.ip_permissions(), id))),
        ("egress", Value::Array(permissions_to_rules(g.ip_permissions_egress(), id))),
    ]
}

/// Makes the rules of one direction of group `id` what `want` says, against what is `live`, so
/// that rules added by hand (or by AWS at creation) are removed too.
async fn converge(
    ec2: &Client,
    id: &str,
    direction: &str,
    live: &[Value],
    want: &[Value],
) -> AwsResult<()> {
    let revoke: Vec<IpPermission> =
        live.iter().filter(|r| !want.contains(r)).map(|r| rule_to_permission(r, id)).collect();
    let add: Vec<IpPermission> =
        want.iter().filter(|r| !live.contains(r)).map(|r| rule_to_permission(r, id)).collect();
    let ingress = direction == "ingress";
    if !revoke.is_empty() {
        if ingress {
            ec2.revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(revoke))
                .send()
                .await?;
        } else {
            ec2.revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(revoke))
                .send()
                .await?;
        }
    }
    if !add.is_empty() {
        if ingress {
            ec2.authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(add))
                .send()
                .await?;
        } else {
            ec2.authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(add))
                .send()
                .await?;
        }
    }
    Ok(())
}

/// Converges the directions among `changed` (both when `None`) of group `id` to `new`.
async fn converge_all(
    ec2: &Client,
    id: &str,
    new: &Attrs,
    changed: Option<&[String]>,
) -> AwsResult<()> {
    let directions: Vec<&str> = ["ingress", "egress"]
        .into_iter()
        .filter(|d| changed.is_none_or(|c| c.iter().any(|x| x == d)))
        .collect();
    if directions.is_empty() {
        return Ok(());
    }
    let r = ec2.describe_security_groups().group_ids(id).send().await?;
    let g = r
        .security_groups()
        .first()
        .ok_or_else(|| ProviderError::new(format!("security group {id} is gone")))?;
    let live = read_rules(g, id);
    for d in directions {
        let now = live
            .iter()
            .find(|(k, _)| *k == d)
            .and_then(|(_, v)| v.as_array())
            .cloned()
            .unwrap_or_default();
        converge(ec2, id, d, &now, &rules(new, d)).await?;
    }
    Ok(())
}

#[async_trait]
impl AwsKind for SecurityGroup {
    const SCHEMA: &'static Schema = &SECURITY_GROUP;
    const NOT_FOUND: &'static [&'static str] = &["InvalidGroup.NotFound"];

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self
            .0
            .describe_security_groups()
            .filters(Filter::builder().name("group-name").values(name).build())
            .filters(
                Filter::builder()
                    .name("vpc-id")
                    .values(input_str(inputs, kinds::network::SecurityGroup::vpc_id))
                    .build(),
            )
            .send()
            .await?;
        Ok(r.security_groups().first().and_then(|g| g.group_id()).map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_security_groups().group_ids(id).send().await?;
        let Some(g) = r.security_groups().first() else { return Ok(None) };
        let [ingress, egress] = read_rules(g, id);
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(g.vpc_id())),
                ("description", json!(g.description())),
                ingress,
                egress,
                ("tags", ec2_tags(g.tags())),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(g.group_name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_security_group()
            .group_name(name)
            .description(input_str(a, kinds::network::SecurityGroup::description))
            .vpc_id(input_str(a, kinds::network::SecurityGroup::vpc_id))
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, a))
            .send()
            .await?;
        let id = r
            .group_id()
            .ok_or_else(|| ProviderError::new("CreateSecurityGroup returned no id"))?
            .to_string();
        // against what is live: AWS's allow-all egress rule of a new group is revoked here
        converge_all(&self.0, &id, a, None).await?;
        Ok(id)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        converge_all(&self.0, id, new, Some(changed)).await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_security_group().group_id(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}

// ── the VPC's default security group ─────────────────────────────────────────────

pub struct DefaultSecurityGroup(Client);

impl DefaultSecurityGroup {
    async fn default_of(&self, vpc_id: &str) -> AwsResult<Option<String>> {
        let r = self
            .0
            .describe_security_groups()
            .filters(Filter::builder().name("group-name").values("default").build())
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
            .send()
            .await?;
        Ok(r.security_groups().first().and_then(|g| g.group_id()).map(String::from))
    }
}

#[async_trait]
impl AwsKind for DefaultSecurityGroup {
    const SCHEMA: &'static Schema = &DEFAULT_SECURITY_GROUP;
    const NOT_FOUND: &'static [&'static str] = &["InvalidGroup.NotFound"];
    // the group outlives the resource (it goes with the VPC): a delete is done when the call returns
    const LIFECYCLE: Lifecycle = Lifecycle::Detached;

    async fn find(&self, _name: &str, address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        // taken over once it carries this address's tag (every VPC has one, taken over or not)
        let Some(id) = self
            .default_of(&input_str(inputs, kinds::network::DefaultSecurityGroup::vpc_id))
            .await?
        else {
            return Ok(None);
        };
        let r = self.0.describe_security_groups().group_ids(&id).send().await?;
        Ok(r.security_groups().first().filter(|g| is_at(g.tags(), address)).map(|_| id))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_security_groups().group_ids(id).send().await?;
        let Some(g) = r.security_groups().first() else { return Ok(None) };
        let [ingress, egress] = read_rules(g, id);
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(g.vpc_id())),
                ingress,
                egress,
                ("tags", ec2_tags(g.tags())),
            ]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let vpc = input_str(a, kinds::network::DefaultSecurityGroup::vpc_id);
        let id = self.default_of(&vpc).await?.ok_or_else(|| {
            ProviderError::new(format!(
                "VPC {vpc} has no default security group; AWS creates one with every VPC"
            ))
        })?;
        converge_all(&self.0, &id, a, None).await?;
        // the group exists already: tagged like any EC2 object after the fact
        ec2_retag(&self.0, &id, tags(a), Vec::new()).await?;
        Ok(id)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        converge_all(&self.0, id, new, Some(changed)).await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        // a default group cannot be deleted: it goes with its VPC; only check it is still there
        done(self.0.describe_security_groups().group_ids(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}
