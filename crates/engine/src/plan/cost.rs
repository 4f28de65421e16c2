//! The monthly cost of a plan, before and after: each resource of the stack priced from the AWS
//! list prices kept as data in `prices.toml` (its date and sources there), so that a reviewer
//! sees what a second NAT gateway, Multi-AZ or a Kubernetes version in extended support costs
//! before it is applied. Only what is billed by the hour or the month is summed; what depends on
//! use (data processed, logs ingested, monthly active users, requests) is listed as an assumption
//! with its unit price, never guessed into the total.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Plan, ResourceChange};
use crate::eks_versions::{self, Support};
use crate::kinds::{cognito, eks, elb, kms, logs, rds, routing, s3, secrets, waf};

/// The price table, as `prices.toml` holds it.
#[derive(Debug, Deserialize)]
pub struct Prices {
    pub as_of: String,
    pub currency: String,
    pub hours_per_month: f64,
    pub regions: Vec<String>,
    pub ec2: Ec2,
    pub vpc: Vpc,
    pub elb: Elb,
    pub rds: Rds,
    pub kms: Kms,
    pub secretsmanager: SecretsManager,
    pub waf: Waf,
    pub logs: Logs,
    pub cognito: Cognito,
    pub s3: S3,
}

#[derive(Debug, Deserialize)]
pub struct Ec2 {
    pub source: String,
    pub gp3_gb_month: f64,
    pub node_volume_gb: f64,
    pub public_ipv4_hour: f64,
    pub instance_hour: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
pub struct Vpc {
    pub source: String,
    pub nat_gateway_hour: f64,
    pub nat_gateway_gb: f64,
    pub interface_endpoint_hour: f64,
    pub interface_endpoint_gb: f64,
}

#[derive(Debug, Deserialize)]
pub struct Elb {
    pub source: String,
    pub alb_hour: f64,
    pub lcu_hour: f64,
}

#[derive(Debug, Deserialize)]
pub struct Rds {
    pub source: String,
    pub gp3_gb_month: f64,
    pub backup_gb_month: f64,
    pub cross_region_gb: f64,
    pub multi_az_factor: f64,
    pub instance_hour: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
pub struct Kms {
    pub source: String,
    pub key_month: f64,
}

#[derive(Debug, Deserialize)]
pub struct SecretsManager {
    pub source: String,
    pub secret_month: f64,
}

#[derive(Debug, Deserialize)]
pub struct Waf {
    pub source: String,
    pub web_acl_month: f64,
    pub rule_month: f64,
    pub million_requests: f64,
}

#[derive(Debug, Deserialize)]
pub struct Logs {
    pub source: String,
    pub ingest_gb: f64,
    pub storage_gb_month: f64,
}

#[derive(Debug, Deserialize)]
pub struct Cognito {
    pub source: String,
    pub lite_mau: f64,
    pub essentials_mau: f64,
    pub plus_mau: f64,
}

#[derive(Debug, Deserialize)]
pub struct S3 {
    pub source: String,
    pub standard_gb_month: f64,
}

/// The price table kept with the code (`prices.toml`).
pub fn prices() -> &'static Prices {
    static PRICES: OnceLock<Prices> = OnceLock::new();
    PRICES.get_or_init(|| {
        toml::from_str(include_str!("prices.toml")).expect("prices.toml is a valid price table")
    })
}

/// A plan's monthly cost, as `plan` ends with it and `plan --json` carries it (`cost`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub currency: String,
    /// What the stack's resources cost a month now (0 for a new stack).
    pub monthly_before: f64,
    /// What they cost a month once the plan is applied.
    pub monthly_after: f64,
    /// One line per priced resource.
    pub lines: Vec<CostLine>,
    /// What the totals leave out because it depends on use, with its unit price.
    pub assumptions: Vec<String>,
    /// The date of the price table.
    pub prices_as_of: String,
    /// The stack's region.
    pub region: String,
    /// Only the resources of a `--target`ed plan are priced, not the whole stack.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub targeted: bool,
    /// The region whose prices were used when the stack's is not in the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced_as: Option<String>,
}

/// One resource's monthly cost before and after the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub address: String,
    /// What is priced: `NAT gateway, 730 h × $0.045`.
    pub what: String,
    pub monthly_before: f64,
    pub monthly_after: f64,
}

impl Cost {
    /// `monthly_after - monthly_before`, to the cent.
    pub fn difference(&self) -> f64 {
        cents(self.monthly_after - self.monthly_before)
    }

    /// The plan's warning when the stack's region is not in the price table.
    pub fn region_warning(&self) -> Option<String> {
        self.priced_as.as_ref().map(|r| {
            format!(
                "the monthly cost is priced as {r}: the price table has no prices for {}, so its figures are what the same resources cost in {r} (docs/COST.md)",
                self.region
            )
        })
    }

    /// The lines whose cost the plan changes.
    pub fn changed(&self) -> impl Iterator<Item = &CostLine> {
        self.lines.iter().filter(|l| l.monthly_before != l.monthly_after)
    }

    /// The lines whose cost the plan changes, the largest difference first; for a new stack,
    /// every line.
    pub fn changed_largest_first(&self) -> Vec<&CostLine> {
        let mut lines: Vec<&CostLine> = if self.monthly_before > 0.0 {
            self.changed().collect()
        } else {
            self.lines.iter().collect()
        };
        let diff = |l: &CostLine| (l.monthly_after - l.monthly_before).abs();
        lines.sort_by(|a, b| diff(b).total_cmp(&diff(a)));
        lines
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `$1,234.56`.
pub fn dollars(x: f64) -> String {
    let c = (x.abs() * 100.0).round() as u64;
    let whole = (c / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}${grouped}.{:02}", if x < 0.0 { "-" } else { "" }, c % 100)
}

/// `+$36.50` / `-$36.50` / `±$0.00`.
pub fn signed(x: f64) -> String {
    match cents(x) {
        d if d > 0.0 => format!("+{}", dollars(d)),
        d if d < 0.0 => dollars(d),
        _ => "±$0.00".into(),
    }
}

/// One resource's attributes on one side of a change.
type Attrs = serde_json::Map<String, Value>;

/// The attributes of `c` before the plan (`None`: it does not exist, or no longer does).
fn before(c: &ResourceChange) -> Option<Attrs> {
    match c.action {
        // an object found by its name and tags (adopted, or an interrupted create resumed) is
        // billed already: what it differs in, as found, over what it becomes
        Action::Create | Action::Replace if c.id.is_some() && c.objects.before.is_none() => {
            let mut a = after(c)?;
            for x in &c.attributes {
                if let Some(b) = &x.before {
                    a.insert(x.name.clone(), b.clone());
                }
            }
            Some(a)
        }
        Action::Create => None,
        // deleted outside empi-infra already: only its state entry goes
        Action::Delete if c.id.is_none() => None,
        _ => c
            .objects
            .before
            .as_ref()
            .map(|b| b.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            // a plan made without reading the cloud: what it changes to is what it is
            .or_else(|| (c.action == Action::NoOp).then(|| after(c)).flatten()),
    }
}

/// The attributes of `c` once applied (`None`: deleted). Values from other resources not known
/// yet are `resource::UNKNOWN`; lists of them keep their length (a subnet per zone).
fn after(c: &ResourceChange) -> Option<Attrs> {
    if c.action == Action::Delete {
        return None;
    }
    let spec = c.spec.as_ref()?;
    Some(
        spec.inputs
            .iter()
            .map(|(k, e)| (k.clone(), e.resolve_partial(&|_: &str, _: &str| None).0))
            .collect(),
    )
}

fn int(a: &Attrs, k: &str) -> Option<f64> {
    a.get(k).and_then(Value::as_f64)
}

fn text<'a>(a: &'a Attrs, k: &str) -> Option<&'a str> {
    a.get(k).and_then(Value::as_str)
}

fn count(a: &Attrs, k: &str) -> usize {
    a.get(k).and_then(Value::as_array).map(Vec::len).unwrap_or(0)
}

/// What the month of one resource costs, and what was priced; `None`: nothing billed by the hour
/// or month. Usage-based charges go to `usage`, and prices missing from the table to `missing`.
fn monthly(
    p: &Prices,
    kind: &str,
    a: &Attrs,
    today: &str,
    usage: &mut BTreeSet<String>,
    missing: &mut BTreeSet<String>,
) -> Option<(f64, String)> {
    let h = p.hours_per_month;
    let ipv4 = p.ec2.public_ipv4_hour * h;
    if kind == eks::CLUSTER.kind {
        let version = text(a, eks::Cluster::version).unwrap_or_default();
        return Some(match eks_versions::support(version, today) {
            Support::Extended(_) | Support::Ended(_) => (
                eks_versions::EXTENDED_PRICE * h,
                format!(
                    "EKS control plane, Kubernetes {version} in extended support: {h} h × ${}",
                    eks_versions::EXTENDED_PRICE
                ),
            ),
            _ => (
                eks_versions::STANDARD_PRICE * h,
                format!(
                    "EKS control plane, Kubernetes {version} in standard support: {h} h × ${}",
                    eks_versions::STANDARD_PRICE
                ),
            ),
        });
    }
    if kind == eks::NODE_GROUP.kind {
        let n = int(a, eks::NodeGroup::desired_size).unwrap_or(0.0);
        let ty = a
            .get(eks::NodeGroup::instance_types)
            .and_then(|v| v.get(0))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(hour) = p.ec2.instance_hour.get(ty) else {
            missing.insert(format!("EC2 instance type {ty}"));
            return None;
        };
        let disk = p.ec2.node_volume_gb * p.ec2.gp3_gb_month;
        return Some((
            n * (hour * h + disk),
            format!(
                "{n} × {ty} node (desired size), on demand: {h} h × ${hour}, and its {} GB gp3 volume",
                p.ec2.node_volume_gb
            ),
        ));
    }
    if kind == routing::NAT_GATEWAY.kind {
        usage.insert(format!(
            "NAT gateways: ${} per GB processed, not included",
            p.vpc.nat_gateway_gb
        ));
        return Some((
            p.vpc.nat_gateway_hour * h,
            format!("NAT gateway: {h} h × ${}", p.vpc.nat_gateway_hour),
        ));
    }
    if kind == routing::EIP.kind {
        return Some((ipv4, format!("public IPv4 address: {h} h × ${}", p.ec2.public_ipv4_hour)));
    }
    if kind == routing::VPC_ENDPOINT.kind {
        if text(a, routing::VpcEndpoint::vpc_endpoint_type) != Some("Interface") {
            return None;
        }
        let zones = count(a, routing::VpcEndpoint::subnet_ids).max(1) as f64;
        usage.insert(format!(
            "interface VPC endpoints: ${} per GB processed, not included",
            p.vpc.interface_endpoint_gb
        ));
        return Some((
            zones * p.vpc.interface_endpoint_hour * h,
            format!(
                "interface VPC endpoint in {zones} zone(s): {h} h × ${} each",
                p.vpc.interface_endpoint_hour
            ),
        ));
    }
    if kind == elb::LOAD_BALANCER.kind {
        let public = text(a, elb::LoadBalancer::scheme) == Some("internet-facing");
        let zones = if public { count(a, elb::LoadBalancer::subnet_ids) as f64 } else { 0.0 };
        usage.insert(format!(
            "the load balancer's capacity units (LCUs): ${} per LCU-hour, not included (one LCU all month: {})",
            p.elb.lcu_hour,
            dollars(p.elb.lcu_hour * h)
        ));
        let mut what = format!("Application Load Balancer: {h} h × ${}", p.elb.alb_hour);
        if zones > 0.0 {
            what += &format!(
                ", and {zones} public IPv4 addresses (one per zone; more while it scales out)"
            );
        }
        return Some((p.elb.alb_hour * h + zones * ipv4, what));
    }
    if kind == kms::KEY.kind {
        return Some((
            p.kms.key_month,
            format!(
                "KMS customer managed key: ${} a month (each of its first two yearly rotations adds ${})",
                p.kms.key_month, p.kms.key_month
            ),
        ));
    }
    if kind == secrets::SECRET.kind {
        return Some((
            p.secretsmanager.secret_month,
            format!("Secrets Manager secret: ${} a month", p.secretsmanager.secret_month),
        ));
    }
    if kind == waf::WEB_ACL.kind {
        // the large-body paths are one more rule of the web ACL's own (a size limit elsewhere)
        let own = if count(a, waf::WebAcl::large_body_paths) > 0 { 1.0 } else { 0.0 };
        let rules = count(a, waf::WebAcl::managed_rule_groups) as f64 + own;
        usage
            .insert(format!("WAF requests: ${} per million, not included", p.waf.million_requests));
        return Some((
            p.waf.web_acl_month + rules * p.waf.rule_month,
            format!(
                "WAF web ACL ${} and {rules} rule(s) (managed groups and the large-body limit) × ${}",
                p.waf.web_acl_month, p.waf.rule_month
            ),
        ));
    }
    if kind == rds::INSTANCE.kind {
        let class = text(a, rds::Instance::instance_class).unwrap_or_default();
        let multi = a.get(rds::Instance::multi_az).and_then(Value::as_bool) == Some(true);
        let gb = int(a, rds::Instance::allocated_storage).unwrap_or(0.0);
        let factor = if multi { p.rds.multi_az_factor } else { 1.0 };
        usage.insert(format!(
            "database backups beyond the allocated storage: ${} per GB-month, not included",
            p.rds.backup_gb_month
        ));
        let Some(hour) = p.rds.instance_hour.get(class) else {
            missing.insert(format!("RDS instance class {class}"));
            return None;
        };
        let az = if multi { "Multi-AZ (primary and standby)" } else { "Single-AZ" };
        // RDS keeps the master password in a Secrets Manager secret of its own, billed as any
        let managed = a.get(rds::Instance::manage_master_user_password).and_then(Value::as_bool)
            == Some(true);
        let secret = if managed { p.secretsmanager.secret_month } else { 0.0 };
        return Some((
            factor * (hour * h + gb * p.rds.gp3_gb_month) + secret,
            format!(
                "RDS PostgreSQL {class} {az}: {h} h × ${hour}, and {gb} GB storage × ${}{}{}",
                p.rds.gp3_gb_month,
                if multi { ", each twice" } else { "" },
                if managed { ", and the master password's secret" } else { "" }
            ),
        ));
    }
    if kind == rds::BACKUP_REPLICATION.kind {
        usage.insert(format!(
            "backups replicated to another region: ${} per GB-month stored there and ${} per GB copied, not included",
            p.rds.backup_gb_month, p.rds.cross_region_gb
        ));
    } else if kind == logs::LOG_GROUP.kind || kind == logs::FLOW_LOG.kind {
        usage.insert(format!(
            "CloudWatch Logs: ${} per GB ingested and ${} per GB-month kept for the retention, not included",
            p.logs.ingest_gb, p.logs.storage_gb_month
        ));
    } else if kind == cognito::USER_POOL.kind {
        let (tier, mau) = match text(a, cognito::UserPool::user_pool_tier) {
            Some("LITE") => ("Lite", p.cognito.lite_mau),
            Some("PLUS") => ("Plus", p.cognito.plus_mau),
            _ => ("Essentials", p.cognito.essentials_mau),
        };
        usage.insert(if tier == "Plus" {
            format!(
                "Cognito {tier} tier: ${mau} per monthly active user, not included (50 users signing in each month: {})",
                dollars(50.0 * mau)
            )
        } else {
            format!(
                "Cognito {tier} tier: the first 10,000 monthly active users free, then ${mau} each, not included"
            )
        });
    } else if kind == s3::BUCKET.kind {
        usage.insert(format!("S3 storage: ${} per GB-month, not included", p.s3.standard_gb_month));
    }
    None
}

/// The plan's monthly cost in `region` (the stack's), with EKS support as of `today`.
pub fn estimate(plan: &Plan, region: &str, today: &str) -> Cost {
    let p = prices();
    let mut usage = BTreeSet::new();
    let mut missing = BTreeSet::new();
    let mut lines = Vec::new();
    for c in &plan.changes {
        let mut side = |attrs: Option<Attrs>| {
            attrs.and_then(|a| monthly(p, &c.kind, &a, today, &mut usage, &mut missing))
        };
        let b = side(before(c));
        let f = side(after(c));
        if b.is_none() && f.is_none() {
            continue;
        }
        let what = f.as_ref().or(b.as_ref()).map(|(_, w)| w.clone()).unwrap_or_default();
        let what = match (&b, &f) {
            (Some((_, wb)), Some((_, wf))) if wb != wf => format!("{wb} → {wf}"),
            _ => what,
        };
        lines.push(CostLine {
            address: c.address.clone(),
            what,
            monthly_before: cents(b.map(|x| x.0).unwrap_or(0.0)),
            monthly_after: cents(f.map(|x| x.0).unwrap_or(0.0)),
        });
    }
    let mut assumptions: Vec<String> = usage.into_iter().collect();
    for m in missing {
        assumptions.push(format!("{m} has no price in the table: left out of the totals"));
    }
    // the Kubernetes version's price may rise during the month
    for c in plan.changes.iter().filter(|c| c.kind == eks::CLUSTER.kind) {
        if let Some(a) = after(c) {
            let version = text(&a, eks::Cluster::version).unwrap_or_default();
            if let Support::Standard(r) = eks_versions::support(version, today) {
                assumptions.push(format!(
                    "Kubernetes {version} leaves EKS standard support on {}: from then its control plane costs {} a month instead of {}",
                    r.end_of_standard,
                    dollars(eks_versions::EXTENDED_PRICE * p.hours_per_month),
                    dollars(eks_versions::STANDARD_PRICE * p.hours_per_month)
                ));
            }
        }
    }
    let priced_as = (!p.regions.iter().any(|r| r == region)).then(|| "us-east-1".to_string());
    Cost {
        currency: p.currency.clone(),
        monthly_before: cents(lines.iter().map(|l| l.monthly_before).sum()),
        monthly_after: cents(lines.iter().map(|l| l.monthly_after).sum()),
        lines,
        assumptions,
        prices_as_of: p.as_of.clone(),
        region: region.to_string(),
        targeted: plan.is_targeted(),
        priced_as,
    }
}

/// The plan's closing cost lines: the totals, then what changes (at most `max` lines).
pub fn summary(cost: &Cost) -> String {
    let mut out = format!(
        "Monthly cost{}: {} → {} ({}), AWS list prices of {} in {}",
        if cost.targeted { " of the targeted resources (not the whole stack)" } else { "" },
        dollars(cost.monthly_before),
        dollars(cost.monthly_after),
        signed(cost.difference()),
        cost.prices_as_of,
        cost.region
    );
    if let Some(r) = &cost.priced_as {
        out += &format!(" (priced as {r}: the table has no prices for {})", cost.region);
    }
    out += "; usage (data, logs, users, requests) not included: `plan --json` lists each line and assumption.";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Objects, PLAN_FORMAT_VERSION};
    use crate::resource::{Expr, ResourceSpec};
    use serde_json::json;

    fn change(
        kind: &str,
        address: &str,
        action: Action,
        inputs: &[(&str, Value)],
    ) -> ResourceChange {
        let mut spec = ResourceSpec::new(address, kind, address);
        for (k, v) in inputs {
            spec = spec.input(*k, Expr::lit(v.clone()));
        }
        let attrs: crate::resource::Attrs =
            inputs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        ResourceChange {
            address: address.into(),
            kind: kind.into(),
            action,
            attributes: vec![],
            reason: None,
            stateful: false,
            spec: (action != Action::Delete).then_some(spec),
            create_before_destroy: false,
            id: None,
            objects: Objects {
                before: (action != Action::Create).then_some(attrs),
                ..Default::default()
            },
        }
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        crate::plan::test_plan(changes)
    }

    #[test]
    fn the_table_parses_and_names_a_source_for_every_service() {
        let p = prices();
        assert_eq!(p.currency, "USD");
        assert_eq!(p.hours_per_month, 730.0);
        for s in [
            &p.ec2.source,
            &p.vpc.source,
            &p.elb.source,
            &p.rds.source,
            &p.kms.source,
            &p.secretsmanager.source,
            &p.waf.source,
            &p.logs.source,
            &p.cognito.source,
            &p.s3.source,
        ] {
            assert!(s.starts_with("https://aws.amazon.com/"), "{s}");
        }
    }

    /// The published us-east-1 prices, worked out by hand (docs/COST.md).
    #[test]
    fn a_new_stack_is_priced_at_the_published_us_east_1_prices() {
        let p = plan(vec![
            change(routing::NAT_GATEWAY.kind, "network.nat_gateway[0]", Action::Create, &[]),
            change(routing::EIP.kind, "network.nat_eip[0]", Action::Create, &[]),
            change(
                eks::CLUSTER.kind,
                "cluster.eks",
                Action::Create,
                &[(eks::Cluster::version, json!("1.36"))],
            ),
            change(
                eks::NODE_GROUP.kind,
                "cluster.node_group",
                Action::Create,
                &[
                    (eks::NodeGroup::desired_size, json!(2)),
                    (eks::NodeGroup::instance_types, json!(["m6i.large"])),
                ],
            ),
            change(
                rds::INSTANCE.kind,
                "database.instance",
                Action::Create,
                &[
                    (rds::Instance::instance_class, json!("db.t4g.medium")),
                    (rds::Instance::multi_az, json!(true)),
                    (rds::Instance::allocated_storage, json!(50)),
                    (rds::Instance::manage_master_user_password, json!(true)),
                ],
            ),
            change(
                elb::LOAD_BALANCER.kind,
                "edge.alb",
                Action::Create,
                &[
                    (elb::LoadBalancer::scheme, json!("internet-facing")),
                    (elb::LoadBalancer::subnet_ids, json!(["a", "b"])),
                ],
            ),
            change(
                waf::WEB_ACL.kind,
                "edge.waf",
                Action::Create,
                &[
                    (waf::WebAcl::managed_rule_groups, json!(["x", "y", "z"])),
                    (waf::WebAcl::large_body_paths, json!(["/import"])),
                ],
            ),
            change(kms::KEY.kind, "security.kms_key", Action::Create, &[]),
            change(secrets::SECRET.kind, "config.secret", Action::Create, &[]),
            change(
                routing::VPC_ENDPOINT.kind,
                "network.logs_endpoint",
                Action::Create,
                &[
                    (routing::VpcEndpoint::vpc_endpoint_type, json!("Interface")),
                    (routing::VpcEndpoint::subnet_ids, json!(["a", "b"])),
                ],
            ),
            change(
                routing::VPC_ENDPOINT.kind,
                "network.s3_endpoint",
                Action::Create,
                &[(routing::VpcEndpoint::vpc_endpoint_type, json!("Gateway"))],
            ),
        ]);
        let cost = estimate(&p, "us-east-1", "2026-12-05");
        let line = |a: &str| cost.lines.iter().find(|l| l.address == a).unwrap().monthly_after;
        assert_eq!(line("network.nat_gateway[0]"), 32.85); // $0.045 × 730 h
        assert_eq!(line("network.nat_eip[0]"), 3.65); // $0.005 × 730 h
        assert_eq!(line("cluster.eks"), 73.0); // $0.10 × 730 h
        assert_eq!(line("cluster.node_group"), 143.36); // 2 × ($0.096 × 730 + 20 GB × $0.08)
        assert_eq!(line("database.instance"), 106.8); // 2 × ($0.065 × 730 + 50 × $0.115) + its secret
        assert_eq!(line("edge.alb"), 23.73); // $0.0225 × 730 + 2 × $3.65
        assert_eq!(line("edge.waf"), 9.0); // $5 + (3 groups + the large-body rule) × $1
        assert_eq!(line("security.kms_key"), 1.0);
        assert_eq!(line("config.secret"), 0.4);
        assert_eq!(line("network.logs_endpoint"), 14.6); // 2 zones × $0.01 × 730
        assert!(
            cost.lines.iter().all(|l| l.address != "network.s3_endpoint"),
            "gateway endpoints are free"
        );
        assert_eq!(cost.monthly_before, 0.0);
        assert_eq!(cost.monthly_after, 408.39);
        assert_eq!(cost.priced_as, None);
        assert_eq!(cost.region_warning(), None);
        assert!(
            cost.assumptions.iter().any(|a| a.contains("per LCU-hour")),
            "{:?}",
            cost.assumptions
        );
        assert!(
            cost.assumptions
                .iter()
                .any(|a| a.starts_with("Kubernetes 1.36 leaves EKS standard support on ")),
            "{:?}",
            cost.assumptions
        );
    }

    #[test]
    fn extended_support_costs_six_times_the_control_plane_and_other_regions_say_how_they_were_priced(
    ) {
        let cluster = |v: &str, a| {
            change(eks::CLUSTER.kind, "cluster.eks", a, &[(eks::Cluster::version, json!(v))])
        };
        // 1.32 left standard support on 2026-03-23
        let cost = estimate(&plan(vec![cluster("1.32", Action::NoOp)]), "eu-west-1", "2026-12-05");
        assert_eq!(cost.monthly_after, 438.0);
        assert_eq!(cost.priced_as.as_deref(), Some("us-east-1"));
        assert!(
            summary(&cost).contains("(priced as us-east-1: the table has no prices for eu-west-1)")
        );
        assert!(cost.region_warning().unwrap().starts_with(
            "the monthly cost is priced as us-east-1: the price table has no prices for eu-west-1"
        ));
        let mut upgrade = cluster("1.33", Action::Update);
        upgrade.objects.before = Some([("version".to_string(), json!("1.32"))].into());
        let cost = estimate(&plan(vec![upgrade]), "us-east-1", "2026-06-01");
        assert_eq!((cost.monthly_before, cost.monthly_after), (438.0, 73.0));
        assert_eq!(cost.difference(), -365.0);
        assert!(
            summary(&cost).starts_with("Monthly cost: $438.00 → $73.00 (-$365.00)"),
            "{}",
            summary(&cost)
        );
    }

    #[test]
    fn a_price_missing_from_the_table_is_left_out_and_said() {
        let p = plan(vec![change(
            rds::INSTANCE.kind,
            "database.instance",
            Action::Create,
            &[
                (rds::Instance::instance_class, json!("db.x9.huge")),
                (rds::Instance::allocated_storage, json!(20)),
            ],
        )]);
        let cost = estimate(&p, "us-east-1", "2026-12-05");
        assert!(cost.lines.is_empty());
        assert!(cost.assumptions.iter().any(|a| a == "RDS instance class db.x9.huge has no price in the table: left out of the totals"), "{:?}", cost.assumptions);
    }

    /// What exists is billed already: an object found by its name and tags, before the plan
    /// records it; what is gone is not, and a targeted plan says it prices only its targets.
    #[test]
    fn found_objects_are_billed_before_gone_ones_are_not_and_targets_say_so() {
        let mut found =
            change(routing::NAT_GATEWAY.kind, "network.nat_gateway[0]", Action::Create, &[]);
        found.id = Some("nat-1".into());
        found.reason = Some("adopting nat-1: found by its name and tags".into());
        let mut gone = change(routing::EIP.kind, "network.nat_eip[1]", Action::Delete, &[]);
        gone.reason = Some("already gone; only the state entry is removed".into());
        let kept = change(routing::EIP.kind, "network.nat_eip[0]", Action::Delete, &[]);
        let mut kept = kept;
        kept.id = Some("eipalloc-1".into());
        let mut p = plan(vec![found, gone, kept]);
        let cost = estimate(&p, "us-east-1", "2026-12-05");
        let line = |a: &str| {
            let l = cost.lines.iter().find(|l| l.address == a).unwrap();
            (l.monthly_before, l.monthly_after)
        };
        assert_eq!(line("network.nat_gateway[0]"), (32.85, 32.85));
        assert!(cost.lines.iter().all(|l| l.address != "network.nat_eip[1]"), "{cost:?}");
        assert_eq!(line("network.nat_eip[0]"), (3.65, 0.0));
        assert!(!cost.targeted && summary(&cost).starts_with("Monthly cost: "));
        p.targets = vec!["network".into()];
        let cost = estimate(&p, "us-east-1", "2026-12-05");
        assert!(cost.targeted);
        assert!(
            summary(&cost).starts_with(
                "Monthly cost of the targeted resources (not the whole stack): $36.50 → $32.85"
            ),
            "{}",
            summary(&cost)
        );
    }

    #[test]
    fn dollars_are_grouped_and_signed() {
        assert_eq!(dollars(1234.5), "$1,234.50");
        assert_eq!(dollars(0.4), "$0.40");
        assert_eq!(signed(36.5), "+$36.50");
        assert_eq!(signed(-2.0), "-$2.00");
        assert_eq!(signed(0.001), "±$0.00");
    }
}
