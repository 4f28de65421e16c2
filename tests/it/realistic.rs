//! The first apply on a cloud that behaves like AWS (the local cloud's realistic mode,
//! scripts/local_cloud/aws/, on by default): IAM propagation, WAF not yet seeing a new ALB,
//! per-account zones, the EKS version calendar, one EKS update at a time, static RDS parameters,
//! access entries, Graviton nodes, managed add-ons, and a node group stuck in DELETE_FAILED. Each
//! check here fails when empi-infra's handling of that behaviour is removed. Results are checked
//! through the AWS API.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::cluster::Node;
use crate::common::{filter, Aws, Workspace};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::Api;

/// The id of an upgrade insight the test gives EKS.
const DEPRECATED_API: &str = "7e1f0c1e-0000-4000-8000-000000000135";

/// What STS answers a pod whose IRSA role has not propagated yet (boto3's words).
const STS_NOT_YET: &str = "botocore.exceptions.ClientError: An error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: Couldn't retrieve verification key from your identity provider";

/// The EKS calendar as of the day these expectations were written (the binary and the local
/// cloud both read it then).
fn pin_calendar(w: &Workspace) {
    std::env::set_var("EMPI_INFRA_TODAY", "2026-11-27");
    w.moto.realism(r#"{"eks_versions_as_of": "2026-11-27"}"#);
}

const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/platform-admins";
/// The operator running the tests, as EKS names the cluster's creator (moto's default caller).
const OPERATOR: &str = "arn:aws:iam::123456789012:user/moto";

#[tokio::test(flavor = "multi_thread")]
async fn the_first_apply_on_a_realistic_cloud_converges_and_later_changes_follow_aws_rules() {
    let edits = [
        ("[database]", "[cluster]\nkubernetes_version = \"1.33\"\nadmins = [\"arn:aws:iam::123456789012:role/platform-admins\", \"arn:aws:iam::123456789012:user/moto\"]\n\n[cluster.nodes]\ninstance_types = [\"m7g.large\"]\n\n[database]"),
    ];
    // the database-role Job's IRSA role is as new as the flow log's: its first pod is refused by
    // STS (issue #27), and Kubernetes' retry must carry the apply, not a second apply
    let node = Node {
        fail_first_pod: vec![("database-role-".into(), STS_NOT_YET.into())],
        ..Node::default()
    };
    let w = Workspace::with_node(&edits, node);
    pin_calendar(&w);
    // a role made before the cluster is refused by EKS twice; WAF refuses a new ALB twice; an EKS
    // update is in progress for its first three looks. By count, not by the clock: windows of 5, 4
    // and 1 s (then 20, 15 and 5) could be missed by a loaded machine, and failed a CI run once
    w.moto.realism(
        r#"{"iam_propagation_refusals": 2, "waf_propagation_refusals": 2, "eks_update_looks": 3}"#,
    );
    let aws = w.aws().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    aws.iam
        .create_role()
        .role_name("platform-admins")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();

    let plan = w.ok(&["plan"]);
    assert!(
        plan.stdout.contains("Warning: Kubernetes 1.33 left EKS standard support on 2026-07-29 and is in extended support until 2027-07-29: the control plane costs $0.60 per hour instead of $0.10"),
        "{plan:?}"
    );
    // the operator is one of the admins: the plan says EKS's entry for it is taken over
    assert!(
        plan.stdout.contains(&format!("Warning: you ({OPERATOR}) are one of cluster.admins")),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("takes that entry over as cluster.admin[1]"), "{plan:?}");
    let t = Instant::now();
    let apply = w.ok(&["apply", "--auto-approve"]);
    let took = t.elapsed();
    let out = apply.all();
    assert!(out.contains("cluster.eks: IAM role not yet assumable, retrying… ["), "{apply:?}");
    // the flow log's delivery role is as new (issue #27): EC2 refuses it until IAM propagates
    assert!(
        out.contains("audit.flow_log: IAM role not yet assumable by VPC Flow Logs, retrying… ["),
        "{apply:?}"
    );
    assert!(
        out.contains("edge.waf_association: the load balancer not yet visible to WAF, retrying… ["),
        "{apply:?}"
    );
    let jobs: Api<Job> = Api::namespaced(w.cluster.client().await, "tuva-empi");
    let role_job = jobs
        .get(&empi_engine::blueprint::workloads::database_role_job_name(&w.parsed_stack()))
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!((role_job.failed, role_job.succeeded), (Some(1), Some(1)), "{role_job:?}");
    eprintln!("the first apply converged in {took:?}");
    assert!(took < Duration::from_secs(90), "converged in {took:?}");

    // zones: the account's, recorded in state with their ids
    let st = w.state();
    let zones: Vec<&str> = st["facts"]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["name"].as_str().unwrap())
        .collect();
    assert_eq!(zones, ["us-east-1a", "us-east-1b"]);
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(filter("tag:empi-infra:stack", "empi-local"))
        .send()
        .await
        .unwrap();
    let mut azs: Vec<&str> =
        subnets.subnets().iter().filter_map(|s| s.availability_zone()).collect();
    azs.sort();
    azs.dedup();
    assert_eq!(azs, zones);

    // the cluster: access entries for the admins, API_AND_CONFIG_MAP; Graviton nodes on the ARM AMI
    let c = aws.eks.describe_cluster().name("empi-local").send().await.unwrap().cluster.unwrap();
    assert_eq!(
        c.access_config().and_then(|a| a.authentication_mode()).map(|m| m.as_str()),
        Some("API_AND_CONFIG_MAP")
    );
    let entries = aws.eks.list_access_entries().cluster_name("empi-local").send().await.unwrap();
    assert!(entries.access_entries().iter().any(|e| e == ADMIN_ROLE), "{entries:?}");
    // the operator is one of the admins (issue #27): EKS made its entry at CreateCluster, and the
    // apply took it over instead of failing 409 on a second one
    assert_eq!(
        entries.access_entries().iter().filter(|e| *e == OPERATOR).count(),
        1,
        "{entries:?}"
    );
    for admin in [ADMIN_ROLE, OPERATOR] {
        let policies = aws
            .eks
            .list_associated_access_policies()
            .cluster_name("empi-local")
            .principal_arn(admin)
            .send()
            .await
            .unwrap();
        let arns: Vec<_> =
            policies.associated_access_policies().iter().filter_map(|p| p.policy_arn()).collect();
        assert_eq!(
            arns,
            ["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"],
            "{admin}"
        );
    }
    let ng = aws
        .eks
        .describe_nodegroup()
        .cluster_name("empi-local")
        .nodegroup_name("empi-local-nodes")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ng.nodegroup().unwrap().ami_type().map(|t| t.as_str()),
        Some("AL2023_ARM_64_STANDARD")
    );

    // a static parameter is set for the next reboot (RDS refuses `immediate` for it)
    let params = aws
        .rds
        .describe_db_parameters()
        .db_parameter_group_name("empi-local-postgres16")
        .source("user")
        .send()
        .await
        .unwrap();
    let force_ssl =
        params.parameters().iter().find(|p| p.parameter_name() == Some("rds.force_ssl")).unwrap();
    assert_eq!(force_ssl.parameter_value(), Some("1"));
    assert_eq!(force_ssl.apply_method().map(|m| m.as_str()), Some("pending-reboot"));
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "a no-op plan follows");

    // two EKS changes at once: the second waits for the first (EKS refuses concurrent updates)
    w.write_stack(&[(
        "[database]",
        "[cluster]\nkubernetes_version = \"1.34\"\npublic_access_cidrs = [\"203.0.113.0/24\"]\nadmins = [\"arn:aws:iam::123456789012:role/platform-admins\"]\n\n[cluster.nodes]\ninstance_types = [\"m7g.large\"]\n\n[database]",
    )]);
    let upgrade_plan = w.ok(&["plan"]);
    assert!(
        upgrade_plan.stdout.contains("Kubernetes 1.33 → 1.34: the control plane first (about 10–15 minutes; the API stays available), then the node group (2 node(s)"),
        "{upgrade_plan:?}"
    );
    let upgrade = w.ok(&["apply", "--auto-approve"]);
    assert!(
        upgrade.all().contains("cluster.eks: the previous EKS update to finish, retrying…"),
        "{upgrade:?}"
    );
    let c = aws.eks.describe_cluster().name("empi-local").send().await.unwrap().cluster.unwrap();
    assert_eq!(c.version(), Some("1.34"));
    assert_eq!(c.resources_vpc_config().unwrap().public_access_cidrs(), ["203.0.113.0/24"]);
    let updates = aws.eks.list_updates().name("empi-local").send().await.unwrap();
    assert_eq!(updates.update_ids().len(), 2, "{updates:?}");
    // the node group followed the control plane (issue #28): EKS refuses the next control-plane
    // update while a node group is a minor behind
    let nodegroup_version = || async {
        aws.eks
            .describe_nodegroup()
            .cluster_name("empi-local")
            .nodegroup_name("empi-local-nodes")
            .send()
            .await
            .unwrap()
            .nodegroup
            .unwrap()
            .version
            .unwrap()
    };
    assert_eq!(nodegroup_version().await, "1.34");
    assert_addons_listed_for(&aws, "1.34").await;
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);

    // two minors at once is refused at plan, naming the one to go to first; one at a time
    // converges, the node group after the control plane each time
    let at = |v: &str| {
        format!("[cluster]\nkubernetes_version = \"{v}\"\npublic_access_cidrs = [\"203.0.113.0/24\"]\nadmins = [\"arn:aws:iam::123456789012:role/platform-admins\"]\n\n[cluster.nodes]\ninstance_types = [\"m7g.large\"]\n\n[database]")
    };
    w.write_stack(&[("[database]", &at("1.36"))]);
    let skip = w.run(&["plan"]);
    assert_eq!(skip.code, 1, "{skip:?}");
    assert!(
        skip.stderr.contains("Kubernetes 1.34 → 1.36 skips 1.35: EKS updates a cluster one minor version at a time; set [cluster] kubernetes_version = \"1.35\""),
        "{skip:?}"
    );
    // EKS's upgrade insights are read first: one in ERROR stops the plan until allowed by its id
    w.moto.realism(&format!(
        r#"{{"eks_insights": [{{"id": "{DEPRECATED_API}", "name": "Deprecated APIs removed in Kubernetes v1.35", "category": "UPGRADE_READINESS", "kubernetesVersion": "1.35", "insightStatus": {{"status": "ERROR", "reason": "Deprecated API usage detected within last 30 days."}}}}]}}"#
    ));
    w.write_stack(&[("[database]", &at("1.35"))]);
    let stopped = w.run(&["plan"]);
    assert_eq!(stopped.code, 1, "{stopped:?}");
    assert!(
        stopped.stderr.contains(&format!("EKS's upgrade insight \"Deprecated APIs removed in Kubernetes v1.35\" ({DEPRECATED_API}) is ERROR for Kubernetes 1.35: Deprecated API usage detected within last 30 days.; fix what it found"))
            && stopped.stderr.contains(&format!("--allow-insight {DEPRECATED_API}")),
        "{stopped:?}"
    );
    let to_135 = w.ok(&["plan", "--allow-insight", DEPRECATED_API]);
    assert!(
        to_135.stdout.contains(
            "then the add-ons vpc-cni, coredns and kube-proxy at versions EKS lists for 1.35"
        ),
        "{to_135:?}"
    );
    assert!(
        to_135.stdout.contains("v1.35.0-eksbuild.2"),
        "kube-proxy moves with the minor: {to_135:?}"
    );
    w.ok(&["apply", "--auto-approve", "--allow-insight", DEPRECATED_API]);
    assert_eq!(nodegroup_version().await, "1.35");
    assert_addons_listed_for(&aws, "1.35").await;
    // the add-ons after the node group: each add-on update began after the node group's ended
    let ng_update = last_update(&aws, Some("empi-local-nodes"), None).await;
    for addon in ["vpc-cni", "coredns", "kube-proxy"] {
        let u = last_update(&aws, None, Some(addon)).await;
        assert!(
            u.created_at().unwrap() > ng_update.created_at().unwrap(),
            "{addon}: {u:?} before {ng_update:?}"
        );
    }
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
    // a pinned version EKS does not list for the cluster's minor is refused at plan
    w.write_stack(&[(
        "[database]",
        &format!(
            "{}\n[cluster.addons]\nkube-proxy = \"v1.34.0-eksbuild.2\"\n\n[database]",
            at("1.35").trim_end_matches("[database]").trim_end()
        ),
    )]);
    let pinned = w.run(&["plan"]);
    assert_eq!(pinned.code, 1, "{pinned:?}");
    assert!(
        pinned.stderr.contains("[cluster.addons] kube-proxy = \"v1.34.0-eksbuild.2\" is not a version EKS lists for Kubernetes 1.35; set it to one that is (v1.35.0-eksbuild.2, v1.35.0-eksbuild.1; the default is v1.35.0-eksbuild.2)"),
        "{pinned:?}"
    );
    // then 1.36, one minor on: the same order, the add-ons at EKS's defaults for 1.36
    w.write_stack(&[("[database]", &at("1.36"))]);
    w.ok(&["apply", "--auto-approve"]);
    assert_eq!(nodegroup_version().await, "1.36");
    assert_addons_listed_for(&aws, "1.36").await;
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);

    // a node group AWS cannot delete fails the destroy at once with AWS's reason, not at the timeout
    w.moto.realism(r#"{"nodegroup_delete_fails": true}"#);
    let t = Instant::now();
    let destroy = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(destroy.code, 1, "{destroy:?}");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert!(destroy.stderr.contains("cluster.node_group"), "{destroy:?}");
    assert!(
        destroy.stderr.contains("is DELETE_FAILED: Ec2SecurityGroupDeletionFailure"),
        "{destroy:?}"
    );
}

/// The cluster's three managed add-ons are ACTIVE, this stack's, each at the version EKS marks
/// as the default for Kubernetes `minor` (issue #28).
async fn assert_addons_listed_for(aws: &Aws, minor: &str) {
    for addon in ["vpc-cni", "coredns", "kube-proxy"] {
        let a = aws
            .eks
            .describe_addon()
            .cluster_name("empi-local")
            .addon_name(addon)
            .send()
            .await
            .unwrap()
            .addon
            .unwrap();
        assert_eq!(a.status().map(|s| s.as_str()), Some("ACTIVE"), "{a:?}");
        assert_eq!(
            a.tags().unwrap().get("empi-infra:stack").map(String::as_str),
            Some("empi-local")
        );
        let listed = aws
            .eks
            .describe_addon_versions()
            .addon_name(addon)
            .kubernetes_version(minor)
            .send()
            .await
            .unwrap();
        let default = listed.addons()[0]
            .addon_versions()
            .iter()
            .find(|v| v.compatibilities().iter().any(|c| c.default_version()))
            .and_then(|v| v.addon_version())
            .unwrap();
        assert_eq!(a.addon_version(), Some(default), "{addon} on {minor}");
    }
}

/// The latest EKS update of the cluster's node group `nodegroup` or add-on `addon`.
async fn last_update(
    aws: &Aws,
    nodegroup: Option<&str>,
    addon: Option<&str>,
) -> aws_sdk_eks::types::Update {
    let ids = aws
        .eks
        .list_updates()
        .name("empi-local")
        .set_nodegroup_name(nodegroup.map(String::from))
        .set_addon_name(addon.map(String::from))
        .send()
        .await
        .unwrap();
    let id = ids.update_ids().last().expect("an update").clone();
    aws.eks
        .describe_update()
        .name("empi-local")
        .update_id(id)
        .set_nodegroup_name(nodegroup.map(String::from))
        .set_addon_name(addon.map(String::from))
        .send()
        .await
        .unwrap()
        .update
        .unwrap()
}

/// One apply and a no-op plan of the local stack placed in `region` with `zones` zones.
async fn converges_in(region: &str, zones: u8, expect: &[&str]) {
    let cert = format!(
        "arn:aws:acm:{region}:123456789012:certificate/00000000-0000-4000-8000-000000000001"
    );
    let network =
        format!("[network]\navailability_zones = {zones}\nnat_gateways = 1\n\n[database]");
    let w = Workspace::new(&[
        ("region = \"us-east-1\"", &format!("region = \"{region}\"")),
        (
            "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000001",
            &cert,
        ),
        ("[database]", &network),
    ]);
    w.ok(&["apply", "--auto-approve"]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "a no-op plan follows in {region}");
    let aws = common::aws_in(&w.moto.url, region).await;
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(filter("tag:empi-infra:stack", "empi-local"))
        .send()
        .await
        .unwrap();
    let mut azs: Vec<&str> =
        subnets.subnets().iter().filter_map(|s| s.availability_zone()).collect();
    azs.sort();
    azs.dedup();
    assert_eq!(azs, expect, "{region}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ap_northeast_1_has_no_zone_b_and_the_stack_converges_there() {
    converges_in("ap-northeast-1", 2, &["ap-northeast-1a", "ap-northeast-1c"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ca_central_1_has_zones_a_b_and_d_and_a_three_zone_stack_converges_there() {
    converges_in("ca-central-1", 3, &["ca-central-1a", "ca-central-1b", "ca-central-1d"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_zone_eks_cannot_use_is_refused_before_anything_is_made() {
    // us-east-1e is use1-az3, where EKS places no control plane
    let w = Workspace::new(&[(
        "[database]",
        "[network]\nzones = [\"us-east-1a\", \"us-east-1e\"]\n\n[database]",
    )]);
    let plan = w.run(&["plan"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(
        plan.stderr.contains(
            "network.zones names us-east-1e, which this account cannot use for EKS in us-east-1"
        ),
        "{plan:?}"
    );
    let aws = w.aws().await;
    assert_eq!(common::stack_vpcs(&aws).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_acm_has_not_issued_fails_apply_before_anything_is_made() {
    // issue #27: the HTTPS listener is made 20-30 minutes into a real first apply, after EKS and
    // RDS; a certificate still PENDING_VALIDATION used to fail there. moto keeps a requested
    // certificate PENDING_VALIDATION for its first 60 s, as ACM does until DNS validates it.
    let w = Workspace::new(&[]);
    let aws = w.aws().await;
    let pending = aws
        .acm
        .request_certificate()
        .domain_name("empi.local.test")
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .unwrap();
    let arn = pending.certificate_arn().unwrap();
    w.write_stack(&[(
        "certificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000001\"",
        &format!("certificate_arn = \"{arn}\""),
    )]);
    let apply = w.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(
        apply.stderr.contains(&format!(
            "the certificate {arn} ([app] certificate_arn) is PENDING_VALIDATION, not ISSUED"
        )) && apply.stderr.contains("DNS validation records"),
        "{apply:?}"
    );
    // nothing was made
    assert_eq!(common::stack_vpcs(&aws).await, 0);
    assert!(aws
        .iam
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .all(|r| !r.role_name().starts_with("empi-local")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_postgres_major_makes_its_parameter_group_before_the_old_one_goes() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    w.write_stack(&[("[database]", "[database]\nengine_version = \"17\"")]);
    // issue #28: a major upgrade takes the database offline; refused until allowed, with the
    // minutes it takes and the snapshot taken first
    let refused = w.run(&["plan"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("PostgreSQL 16.10 → 17 is a major upgrade: RDS takes the database offline while it runs (typically 10–30 minutes")
            && refused.stderr.contains("a snapshot empi-local-db-pre-postgres17 is taken first, the way back. Run again with --allow-downtime"),
        "{refused:?}"
    );
    // a major whose RDS lacks an extension the version's migrations create is refused first
    w.moto.realism(r#"{"rds_missing_extensions": {"postgres17": ["pg_trgm"]}}"#);
    let lacking = w.run(&["plan", "--allow-downtime"]);
    assert_eq!(lacking.code, 1, "{lacking:?}");
    assert!(
        lacking.stderr.contains("RDS for PostgreSQL 17 does not offer the extension(s) pg_trgm (its `rds.extensions`), which the migrations of Tuva EMPI v0.1.0 create"),
        "{lacking:?}"
    );
    w.moto.realism(r#"{"rds_missing_extensions": {}}"#);
    let plan = w.ok(&["plan", "--allow-downtime"]);
    assert!(
        plan.stdout.contains(
            "  +/- database.parameter_group (aws_db_parameter_group)  # the new one is made first; the old one goes once nothing uses it"
        ),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("+ database.upgrade_snapshot[postgres17]"), "{plan:?}");
    // the writers stopped around it, and the planner's statistics rebuilt after it
    for step in [
        "+ workloads.pause_writers[postgres17]",
        "+ workloads.database_analyze[postgres17]",
        "+ workloads.resume_writers[postgres17]",
    ] {
        assert!(plan.stdout.contains(step), "{step}: {plan:?}");
    }
    assert!(
        plan.stdout.contains("PostgreSQL 16.10 → 17: matching-service stopped, the database snapshotted as empi-local-db-pre-postgres17, then upgraded"),
        "{plan:?}"
    );
    let deployments: Api<Deployment> = Api::namespaced(w.cluster.client().await, "tuva-empi");
    let generation = |d: &Deployment| d.metadata.generation.unwrap_or(0);
    let before = generation(&deployments.get("matching-service").await.unwrap());
    // AWS refuses to delete a parameter group a database still uses: the old one goes last
    let apply = w.ok(&["apply", "--auto-approve", "--allow-downtime"]);
    // in this order: writers stopped → snapshot → upgrade → ANALYZE → writers started
    let out = apply.all();
    let at = |line: &str| out.find(line).unwrap_or_else(|| panic!("{line}: {out}"));
    let order = [
        at("workloads.pause_writers[postgres17]: creation complete"),
        at("database.upgrade_snapshot[postgres17]: creating"),
        at("database.instance: modification complete"),
        at("workloads.database_analyze[postgres17]: creating"),
        at("workloads.database_analyze[postgres17]: creation complete"),
        at("workloads.resume_writers[postgres17]: creating"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}: {out}");
    // matching-service was scaled twice (to 0 and back) and runs again
    let ms = deployments.get("matching-service").await.unwrap();
    assert_eq!(generation(&ms), before + 2, "{ms:?}");
    assert_eq!(ms.spec.as_ref().unwrap().replicas, Some(1));
    assert_eq!(ms.status.as_ref().unwrap().ready_replicas, Some(1), "{ms:?}");
    let analyze: Api<Job> = Api::namespaced(w.cluster.client().await, "tuva-empi");
    let job = analyze.get("database-analyze-postgres17").await.unwrap();
    assert_eq!(job.status.unwrap().succeeded, Some(1));
    assert!(
        apply.all().contains("database.parameter_group: the replaced object was destroyed"),
        "{apply:?}"
    );
    let aws = w.aws().await;
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let groups: Vec<&str> = db.db_instances()[0]
        .db_parameter_groups()
        .iter()
        .filter_map(|g| g.db_parameter_group_name())
        .collect();
    assert_eq!(groups, ["empi-local-postgres17"]);
    assert!(db.db_instances()[0].engine_version().unwrap().starts_with("17."), "{db:?}");
    // the way back: a snapshot of the database as it was on 16, taken before the upgrade
    let snap = aws
        .rds
        .describe_db_snapshots()
        .db_snapshot_identifier("empi-local-db-pre-postgres17")
        .send()
        .await
        .unwrap();
    assert!(
        snap.db_snapshots()[0].engine_version().unwrap().starts_with("16"),
        "the snapshot was taken after the upgrade: {snap:?}"
    );
    let old = aws
        .rds
        .describe_db_parameter_groups()
        .db_parameter_group_name("empi-local-postgres16")
        .send()
        .await;
    assert!(
        old.as_ref().map(|o| o.db_parameter_groups().is_empty()).unwrap_or(true),
        "the old group is gone: {old:?}"
    );
    assert!(
        !w.state()["facts"].as_object().unwrap().keys().any(|k| k.starts_with("deposed:")),
        "nothing left deposed"
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
    // RDS cannot go back a major
    w.write_stack(&[("[database]", "[database]\nengine_version = \"16\"")]);
    let down = w.run(&["plan", "--allow-downtime"]);
    assert_eq!(down.code, 1, "{down:?}");
    assert!(
        down.stderr.contains("the database runs PostgreSQL 17.6 and RDS cannot downgrade it to 16"),
        "{down:?}"
    );
}

/// Issue #27: empi-infra's tables of versions age; EKS's and RDS's own lists are the judges. A
/// version shipped after this release is used (with a warning for what empi-infra cannot know), a
/// version never offered or retired is refused before anything is made, and a minor RDS retires
/// under a running database is a warning, not a blocked stack.
#[tokio::test(flavor = "multi_thread")]
async fn versions_eks_and_rds_offer_today_win_over_the_tables_of_this_release() {
    let w = Workspace::new(&[]);
    pin_calendar(&w);
    let aws = w.aws().await;

    // Kubernetes 1.37 is newer than the calendar: refused while EKS does not list it…
    let k137 = ("[database]", "[cluster]\nkubernetes_version = \"1.37\"\n\n[database]");
    w.write_stack(&[k137]);
    assert_eq!(w.run(&["validate"]).code, 0, "validate leaves it to EKS");
    let refused = w.run(&["plan"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("EKS in us-east-1 does not offer Kubernetes 1.37; set [cluster] kubernetes_version to one of: 1.36, 1.35"),
        "{refused:?}"
    );
    // …and used, with what empi-infra cannot know said, once EKS ships it
    w.moto.realism(r#"{"eks_new_versions": {"1.37": "2026-11-20"}}"#);
    let plan = w.ok(&["plan"]);
    assert!(
        plan.stdout.contains("Warning: Kubernetes 1.37 is newer than the EKS calendar of this release of empi-infra (checked 2026-11-27); EKS offers it (STANDARD_SUPPORT), so it is used"),
        "{plan:?}"
    );

    // PostgreSQL: a minor RDS never offered is refused at plan, naming the ones it offers
    w.write_stack(&[("[database]", "[database]\nengine_version = \"16.99\"")]);
    let refused = w.run(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("RDS in us-east-1 does not offer PostgreSQL 16.99; set [database] engine_version = \"16\" (RDS picks its default minor and keeps it upgraded) or one of: 16.1, 16.2"),
        "{refused:?}"
    );
    assert_eq!(common::stack_vpcs(&aws).await, 0, "nothing was made");

    // a minor newer than this release's table, once RDS lists it, is used
    w.moto.realism(r#"{"rds_engine_versions": {"16.11": "available"}}"#);
    w.write_stack(&[("[database]", "[database]\nengine_version = \"16.11\"")]);
    w.ok(&["apply", "--auto-approve"]);
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    assert_eq!(db.db_instances()[0].engine_version(), Some("16.11"));

    // RDS retires it under the running database: the stack still plans (no change), and says
    // what RDS will do and how to choose the moment
    w.moto.realism(r#"{"rds_engine_versions": {"16.11": "deprecated"}}"#);
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stdout.contains("RDS in us-east-1 no longer offers PostgreSQL 16.11, which the database runs: RDS will upgrade it to a newer 16 minor in a maintenance window of its choosing; set [database] engine_version = \"16.10\""),
        "{plan:?}"
    );

    // issue #28: RDS upgrades the minor itself (auto minor version upgrade): the stack still names
    // 16.11, and the plan does not try to take the database back down (RDS cannot)
    w.moto.realism(r#"{"rds_engine_versions": {"16.11": "deprecated", "16.12": "available"}}"#);
    aws.rds
        .modify_db_instance()
        .db_instance_identifier("empi-local-db")
        .engine_version("16.12")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
}

/// An IAM user in the local cloud with `policy` inline, and its access key.
async fn operator_user(
    aws: &common::Aws,
    name: &str,
    policy: &serde_json::Value,
) -> (String, String) {
    aws.iam.create_user().user_name(name).send().await.unwrap();
    aws.iam
        .put_user_policy()
        .user_name(name)
        .policy_name("empi-infra-operator")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let key = aws.iam.create_access_key().user_name(name).send().await.unwrap();
    let key = key.access_key().unwrap();
    (key.access_key_id().to_string(), key.secret_access_key().to_string())
}

/// Issue #27: what AWS checks beside the call itself, against the operator's own policy. In a
/// new account the first EKS cluster, node group, load balancer and RDS instance make their
/// service-linked roles as the caller, RDS makes the master user's `rds!` secret as the caller,
/// and associating the web ACL needs `elasticloadbalancing:SetWebAcl`. `empi-infra iam-policy
/// operator` must carry each, or the first real apply fails part-way.
#[tokio::test(flavor = "multi_thread")]
async fn the_operator_policy_carries_what_aws_checks_beside_each_call() {
    let w = Workspace::new(&[]);
    let aws = w.aws().await;
    let policy: serde_json::Value =
        serde_json::from_str(&w.ok(&["iam-policy", "operator"]).stdout).unwrap();
    let without = |drop_sids: &[&str], drop_actions: &[&str]| {
        let mut p = policy.clone();
        let statements = p["Statement"].as_array_mut().unwrap();
        statements.retain(|s| !drop_sids.contains(&s["Sid"].as_str().unwrap_or("")));
        for s in statements.iter_mut() {
            if let Some(actions) = s["Action"].as_array_mut() {
                actions.retain(|a| !drop_actions.contains(&a.as_str().unwrap_or("")));
            }
        }
        p
    };
    let user = |name: &'static str, p: serde_json::Value| {
        let aws = &aws;
        async move { operator_user(aws, name, &p).await }
    };

    // without the service-linked-role and rds! statements: the first cluster and database of the
    // account are refused, saying which permission was missing
    let narrow =
        user("operator-narrow", without(&["ServiceLinkedRoles", "RdsMasterUserSecret"], &[])).await;
    let a = w.run_as((&narrow.0, &narrow.1), &["apply", "--auto-approve"]);
    assert_eq!(a.code, 1, "{a:?}");
    assert!(
        a.stderr.contains("Failed to create service linked role: AWSServiceRoleForAmazonEKS due to missing permissions for 'iam:CreateServiceLinkedRole'"),
        "{a:?}"
    );
    assert!(
        a.stderr.contains("is not authorized to perform: iam:CreateServiceLinkedRole on resource: arn:aws:iam::123456789012:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS"),
        "{a:?}"
    );

    // without SetWebAcl: everything is made but the web ACL's association
    let no_set_web_acl =
        user("operator-no-setwebacl", without(&[], &["elasticloadbalancing:SetWebAcl"])).await;
    let b = w.run_as((&no_set_web_acl.0, &no_set_web_acl.1), &["apply", "--auto-approve"]);
    assert_eq!(b.code, 1, "{b:?}");
    assert!(
        b.stderr.contains("edge.waf_association")
            && b.stderr.contains("is not authorized to perform: elasticloadbalancing:SetWebAcl"),
        "{b:?}"
    );

    // the policy as printed: the apply converges and the next plan is a no-op
    let full = user("operator", policy.clone()).await;
    let c = w.run_as((&full.0, &full.1), &["apply", "--auto-approve"]);
    assert_eq!(c.code, 0, "{c:?}");
    let again = w.run_as((&full.0, &full.1), &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again:?}");
}
