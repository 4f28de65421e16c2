//! The whole Tuva EMPI architecture against moto: every security-relevant setting
//! is checked through the AWS API, not through empi-infra's state.

use crate::common;

use crate::common::{filter, policy, Workspace};
use serde_json::{json, Value};

fn sg_rules(g: &aws_sdk_ec2::types::SecurityGroup) -> Vec<(i32, Option<String>, Option<String>)> {
    let mut v: Vec<_> = g
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            let port = p.from_port().unwrap_or(-1);
            let groups = p
                .user_id_group_pairs()
                .iter()
                .map(move |u| (port, u.group_id().map(String::from), None));
            let cidrs =
                p.ip_ranges().iter().map(move |r| (port, None, r.cidr_ip().map(String::from)));
            groups.chain(cidrs).collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

/// (protocol, port, peer group, peer CIDR) of every egress rule; protocol -1 has port -1.
fn egress_rules(
    g: &aws_sdk_ec2::types::SecurityGroup,
) -> Vec<(String, i32, Option<String>, Option<String>)> {
    let mut v: Vec<_> = g
        .ip_permissions_egress()
        .iter()
        .flat_map(|p| {
            let proto = p.ip_protocol().unwrap_or_default().to_string();
            let port = if proto == "-1" { -1 } else { p.from_port().unwrap_or(-1) };
            let groups = p.user_id_group_pairs().iter().map({
                let proto = proto.clone();
                move |u| (proto.clone(), port, u.group_id().map(String::from), None)
            });
            let cidrs = p
                .ip_ranges()
                .iter()
                .map(move |r| (proto.clone(), port, None, r.cidr_ip().map(String::from)));
            groups.chain(cidrs).collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn network_egress_endpoints_and_security_groups() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let vpc_id = w.state()["resources"]["network.vpc"]["id"].as_str().unwrap().to_string();
    let in_vpc = || filter("vpc-id", &vpc_id);

    // a public and a private subnet per zone
    let subnets = aws.ec2.describe_subnets().filters(in_vpc()).send().await.unwrap();
    let name_of = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .find(|t| t.key() == Some("Name"))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_string()
    };
    let mut names: Vec<String> = subnets.subnets().iter().map(|s| name_of(s.tags())).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "empi-local-private-us-east-1a",
            "empi-local-private-us-east-1b",
            "empi-local-public-us-east-1a",
            "empi-local-public-us-east-1b"
        ]
    );
    let subnet_id = |n: &str| {
        subnets
            .subnets()
            .iter()
            .find(|s| name_of(s.tags()) == n)
            .unwrap()
            .subnet_id()
            .unwrap()
            .to_string()
    };

    // internet gateway attached; one NAT gateway with an Elastic IP, in a public subnet
    let igws = aws
        .ec2
        .describe_internet_gateways()
        .filters(filter("attachment.vpc-id", &vpc_id))
        .send()
        .await
        .unwrap();
    assert_eq!(igws.internet_gateways().len(), 1);
    let igw = igws.internet_gateways()[0].internet_gateway_id().unwrap().to_string();
    let nats = aws.ec2.describe_nat_gateways().filter(in_vpc()).send().await.unwrap();
    assert_eq!(nats.nat_gateways().len(), 1, "nat_gateways = 1");
    let nat = &nats.nat_gateways()[0];
    assert_eq!(nat.subnet_id(), Some(subnet_id("empi-local-public-us-east-1a").as_str()));
    assert!(nat.nat_gateway_addresses()[0].allocation_id().is_some());

    // public subnets route to the internet gateway, private ones to the NAT gateway
    let tables = aws.ec2.describe_route_tables().filters(in_vpc()).send().await.unwrap();
    let default_route = |subnet: &str| {
        let t = tables
            .route_tables()
            .iter()
            .find(|t| t.associations().iter().any(|a| a.subnet_id() == Some(subnet)))
            .unwrap_or_else(|| panic!("{subnet} has no route table"));
        let r = t
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .expect("a default route");
        (r.gateway_id().map(String::from), r.nat_gateway_id().map(String::from))
    };
    for az in ["us-east-1a", "us-east-1b"] {
        assert_eq!(
            default_route(&subnet_id(&format!("empi-local-public-{az}"))),
            (Some(igw.clone()), None)
        );
        assert_eq!(
            default_route(&subnet_id(&format!("empi-local-private-{az}"))),
            (None, Some(nat.nat_gateway_id().unwrap().to_string()))
        );
    }

    // security groups: the internet reaches the ALB only; nodes only from the ALB; the database only from nodes
    let sg = |name: &str| {
        let aws = &aws;
        let name = name.to_string();
        async move {
            aws.ec2
                .describe_security_groups()
                .filters(filter("group-name", &name))
                .send()
                .await
                .unwrap()
                .security_groups()[0]
                .clone()
        }
    };
    let (alb, nodes, db, endpoints) = (
        sg("empi-local-alb").await,
        sg("empi-local-nodes").await,
        sg("empi-local-database").await,
        sg("empi-local-endpoints").await,
    );
    let anywhere = Some("0.0.0.0/0".to_string());
    assert_eq!(sg_rules(&alb), vec![(80, None, anywhere.clone()), (443, None, anywhere.clone())]);
    let alb_id = alb.group_id().map(String::from);
    let nodes_id = nodes.group_id().map(String::from);
    // the node ports from the ALB; all from the group itself (node to node, and the control plane,
    // whose interfaces carry this group too)
    assert_eq!(
        sg_rules(&nodes),
        vec![
            (-1, nodes_id.clone(), None),
            (30080, alb_id.clone(), None),
            (30081, alb_id.clone(), None),
            (30300, alb_id, None)
        ]
    );
    assert_eq!(sg_rules(&db), vec![(5432, nodes_id.clone(), None)]);
    assert_eq!(sg_rules(&endpoints), vec![(443, nodes_id.clone(), None)]);
    // egress: none from the database and the endpoints (AWS's allow-all rule revoked at creation);
    // the ALB to the node ports in the private subnets and HTTPS out (the identity provider's token
    // endpoint); nodes to each other, HTTPS out and PostgreSQL in the private subnets
    assert_eq!(egress_rules(&db), vec![]);
    assert_eq!(egress_rules(&endpoints), vec![]);
    let private = ["empi-local-private-us-east-1a", "empi-local-private-us-east-1b"].map(|n| {
        subnets
            .subnets()
            .iter()
            .find(|s| name_of(s.tags()) == n)
            .unwrap()
            .cidr_block()
            .map(String::from)
    });
    let mut want = vec![("tcp".to_string(), 443, None, anywhere.clone())];
    for port in [30080, 30081, 30300] {
        want.extend(private.iter().map(|c| ("tcp".to_string(), port, None, c.clone())));
    }
    want.sort();
    assert_eq!(egress_rules(&alb), want);
    let mut want = vec![
        ("-1".to_string(), -1, nodes_id.clone(), None),
        ("tcp".to_string(), 443, None, anywhere.clone()),
    ];
    want.extend(private.iter().map(|c| ("tcp".to_string(), 5432, None, c.clone())));
    want.sort();
    assert_eq!(egress_rules(&nodes), want);
    // the nodes are in their own group only, not in EKS's cluster group (which allows all egress)
    let ng = aws
        .eks
        .describe_nodegroup()
        .cluster_name("empi-local")
        .nodegroup_name("empi-local-nodes")
        .send()
        .await
        .unwrap();
    let lt_id = ng.nodegroup().unwrap().launch_template().unwrap().id().unwrap().to_string();
    let v = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(lt_id)
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let groups = v.launch_template_versions()[0]
        .launch_template_data()
        .unwrap()
        .security_group_ids()
        .to_vec();
    assert_eq!(groups, [nodes.group_id().unwrap()]);

    // the VPC's default group, taken over: no rules left (AWS gives it ingress from itself and egress anywhere)
    let default = aws
        .ec2
        .describe_security_groups()
        .filters(filter("group-name", "default"))
        .filters(in_vpc())
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    assert_eq!((sg_rules(&default), egress_rules(&default)), (vec![], vec![]), "{default:?}");

    // VPC endpoints: Secrets Manager and CloudWatch Logs in the private subnets, S3 on the private route tables
    let eps = aws.ec2.describe_vpc_endpoints().filters(in_vpc()).send().await.unwrap();
    let ep = |svc: &str| {
        eps.vpc_endpoints()
            .iter()
            .find(|e| e.service_name() == Some(&format!("com.amazonaws.us-east-1.{svc}")))
            .unwrap_or_else(|| panic!("no {svc} endpoint"))
            .clone()
    };
    let private =
        [subnet_id("empi-local-private-us-east-1a"), subnet_id("empi-local-private-us-east-1b")];
    for svc in ["secretsmanager", "logs"] {
        let e = ep(svc);
        assert_eq!(e.vpc_endpoint_type().map(|t| t.as_str()), Some("Interface"));
        let mut sn = e.subnet_ids().to_vec();
        sn.sort();
        let mut want = private.to_vec();
        want.sort();
        assert_eq!(sn, want);
        assert_eq!(e.groups()[0].group_id(), endpoints.group_id());
    }
    let s3 = ep("s3");
    assert_eq!(s3.vpc_endpoint_type().map(|t| t.as_str()), Some("Gateway"));
    assert_eq!(s3.route_table_ids().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_irsa_roles_are_least_privilege_and_bound_to_one_service_account() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let st = w.state();
    let out = |a: &str, o: &str| st["resources"][a]["outputs"][o].as_str().unwrap().to_string();

    let node_policies = aws
        .iam
        .list_attached_role_policies()
        .role_name("empi-local-eks-node")
        .send()
        .await
        .unwrap();
    let mut arns: Vec<_> = node_policies
        .attached_policies()
        .iter()
        .map(|p| p.policy_arn().unwrap().to_string())
        .collect();
    arns.sort();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
        ]
    );

    // the cluster's OIDC provider
    let issuer = out("cluster.eks", "oidc_issuer");
    let host = issuer.trim_start_matches("https://").to_string();
    let providers = aws.iam.list_open_id_connect_providers().send().await.unwrap();
    let provider_arn = providers
        .open_id_connect_provider_list()
        .iter()
        .find_map(|p| p.arn().filter(|a| a.ends_with(&host)))
        .expect("an OIDC provider for the cluster")
        .to_string();
    let p = aws
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(p.client_id_list(), ["sts.amazonaws.com"]);

    let secret = out("config.secret", "arn");
    let pool = out("identity.user_pool", "arn");
    let bucket = "arn:aws:s3:::empi-local-data-123456789012";
    // the stack's KMS key encrypts the secret and the bucket's objects: every role may use it, no other key
    let key = out("security.kms_key", "arn");
    let use_key = json!([["kms:Decrypt", "kms:GenerateDataKey"], key]);
    for (sa, want) in [
        (
            "api",
            vec![
                json!(["secretsmanager:GetSecretValue", secret]),
                use_key.clone(),
                json!(["cognito-idp:ListUsers", pool]),
                json!(["s3:ListBucket", bucket]),
                json!([["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], format!("{bucket}/*")]),
            ],
        ),
        (
            "matching-service",
            vec![json!(["secretsmanager:GetSecretValue", secret]), use_key.clone()],
        ),
        (
            "worker",
            vec![
                json!(["secretsmanager:GetSecretValue", secret]),
                use_key.clone(),
                json!(["s3:ListBucket", bucket]),
                json!([["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], format!("{bucket}/*")]),
            ],
        ),
    ] {
        let role = aws.iam.get_role().role_name(format!("empi-local-{sa}")).send().await.unwrap();
        let trust = policy(role.role().unwrap().assume_role_policy_document().unwrap());
        let stmt = &trust["Statement"][0];
        assert_eq!(stmt["Principal"]["Federated"], provider_arn.as_str(), "{sa}");
        assert_eq!(stmt["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            stmt["Condition"]["StringEquals"][format!("{host}:sub")],
            format!("system:serviceaccount:tuva-empi:{sa}"),
            "trust is limited to exactly one service account"
        );
        assert_eq!(stmt["Condition"]["StringEquals"][format!("{host}:aud")], "sts.amazonaws.com");
        // no managed policies; one inline policy, every statement scoped to one ARN
        assert!(aws
            .iam
            .list_attached_role_policies()
            .role_name(format!("empi-local-{sa}"))
            .send()
            .await
            .unwrap()
            .attached_policies()
            .is_empty());
        let doc = aws
            .iam
            .get_role_policy()
            .role_name(format!("empi-local-{sa}"))
            .policy_name("tuva-empi")
            .send()
            .await
            .unwrap();
        let doc = policy(doc.policy_document());
        let got: Vec<Value> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| json!([s["Action"], s["Resource"]]))
            .collect();
        assert_eq!(got, want, "{sa}");
        assert!(doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["Effect"] == "Allow" && !s["Resource"].as_str().unwrap().contains('*')
                || s["Resource"].as_str().unwrap().ends_with("/*")));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_nodes_database_identity_and_storage_are_hardened() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let st = w.state();

    // EKS: every control-plane log type on; node group sized by the stack, IMDSv2 enforced
    let c = aws.eks.describe_cluster().name("empi-local").send().await.unwrap();
    let mut logs: Vec<String> = c
        .cluster()
        .unwrap()
        .logging()
        .unwrap()
        .cluster_logging()
        .iter()
        .filter(|l| l.enabled() == Some(true))
        .flat_map(|l| l.types().iter().map(|t| t.as_str().to_string()))
        .collect();
    logs.sort();
    assert_eq!(logs, ["api", "audit", "authenticator", "controllerManager", "scheduler"]);
    let ng = aws
        .eks
        .describe_nodegroup()
        .cluster_name("empi-local")
        .nodegroup_name("empi-local-nodes")
        .send()
        .await
        .unwrap();
    let ng = ng.nodegroup().unwrap();
    let sc = ng.scaling_config().unwrap();
    assert_eq!((sc.min_size(), sc.desired_size(), sc.max_size()), (Some(2), Some(2), Some(4)));
    assert_eq!(ng.instance_types(), ["m6i.large"]);
    let lt_id = ng.launch_template().unwrap().id().unwrap();
    let v = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(lt_id)
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let md = v.launch_template_versions()[0]
        .launch_template_data()
        .unwrap()
        .metadata_options()
        .unwrap()
        .clone();
    assert_eq!(md.http_tokens().map(|t| t.as_str()), Some("required"), "IMDSv2 only");
    assert_eq!(
        md.http_put_response_hop_limit(),
        Some(1),
        "pods (one hop further) cannot reach the node's metadata"
    );

    // RDS: parameter group of the postgres16 family forcing TLS; backups; encryption; private
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let db = &db.db_instances()[0];
    assert_eq!(
        db.db_parameter_groups()[0].db_parameter_group_name(),
        Some("empi-local-postgres16")
    );
    let pg = aws
        .rds
        .describe_db_parameter_groups()
        .db_parameter_group_name("empi-local-postgres16")
        .send()
        .await
        .unwrap();
    assert_eq!(pg.db_parameter_groups()[0].db_parameter_group_family(), Some("postgres16"));
    let params = aws
        .rds
        .describe_db_parameters()
        .db_parameter_group_name("empi-local-postgres16")
        .send()
        .await
        .unwrap();
    assert!(params
        .parameters()
        .iter()
        .any(|p| p.parameter_name() == Some("rds.force_ssl") && p.parameter_value() == Some("1")));
    assert_eq!(db.backup_retention_period(), Some(1));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));

    // Cognito: hosted-UI domain, the ALB client (code flow, openid+email, the ALB callback, a secret), the admin
    let pool_id = st["resources"]["identity.user_pool"]["id"].as_str().unwrap();
    let d = aws.cognito.describe_user_pool_domain().domain("empi-local").send().await.unwrap();
    assert_eq!(d.domain_description().unwrap().user_pool_id(), Some(pool_id));
    let client_id = st["resources"]["identity.app_client"]["id"].as_str().unwrap();
    let cl = aws
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(client_id)
        .send()
        .await
        .unwrap();
    let cl = cl.user_pool_client().unwrap();
    assert_eq!(cl.allowed_o_auth_flows().iter().map(|f| f.as_str()).collect::<Vec<_>>(), ["code"]);
    let mut scopes = cl.allowed_o_auth_scopes().to_vec();
    scopes.sort();
    assert_eq!(scopes, ["email", "openid"]);
    assert_eq!(cl.callback_urls(), ["https://empi.local.test/oauth2/idpresponse"]);
    assert!(cl.client_secret().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        cl.prevent_user_existence_errors().map(|x| x.as_str()),
        Some("ENABLED"),
        "answers do not say whether a user exists"
    );
    // the pool: MFA required by authenticator app, a 14-character policy, threat protection, deletion protection
    let mfa = aws.cognito.get_user_pool_mfa_config().user_pool_id(pool_id).send().await.unwrap();
    assert_eq!(mfa.mfa_configuration().map(|m| m.as_str()), Some("ON"));
    assert_eq!(mfa.software_token_mfa_configuration().map(|t| t.enabled()), Some(true));
    let p = aws.cognito.describe_user_pool().user_pool_id(pool_id).send().await.unwrap();
    let p = p.user_pool().unwrap();
    let pw = p.policies().unwrap().password_policy().unwrap();
    assert_eq!(
        (
            pw.minimum_length(),
            pw.require_lowercase(),
            pw.require_uppercase(),
            pw.require_numbers(),
            pw.require_symbols()
        ),
        (Some(14), true, true, true, true)
    );
    assert_eq!((pw.temporary_password_validity_days(), pw.password_history_size()), (7, Some(24)));
    assert_eq!(
        p.user_pool_add_ons().map(|a| a.advanced_security_mode().as_str()),
        Some("ENFORCED")
    );
    assert_eq!(p.user_pool_tier().map(|t| t.as_str()), Some("PLUS"));
    assert_eq!(p.deletion_protection().map(|d| d.as_str()), Some("ACTIVE"));
    // nothing but empi-infra's destroy (which lifts it first) deletes the pool
    let e = aws.cognito.delete_user_pool().user_pool_id(pool_id).send().await.unwrap_err();
    assert_eq!(
        aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata::code(&e),
        Some("InvalidParameterException"),
        "{e:?}"
    );
    let users = aws
        .cognito
        .list_users()
        .user_pool_id(pool_id)
        .filter("email = \"admin@example.org\"")
        .send()
        .await
        .unwrap();
    assert_eq!(users.users().len(), 1, "bootstrap must find exactly one admin");
    let u = &users.users()[0];
    assert!(u
        .attributes()
        .iter()
        .any(|a| a.name() == "email_verified" && a.value() == Some("true")));

    // S3: encrypted (with the stack's KMS key: tests/it/aws_kms.rs), public access blocked, versioned
    let b = "empi-local-data-123456789012";
    let enc = aws.s3.get_bucket_encryption().bucket(b).send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm().as_str(),
        "aws:kms"
    );
    let pab = aws.s3.get_public_access_block().bucket(b).send().await.unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            pab.block_public_acls(),
            pab.ignore_public_acls(),
            pab.block_public_policy(),
            pab.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    assert_eq!(
        aws.s3.get_bucket_versioning().bucket(b).send().await.unwrap().status().map(|s| s.as_str()),
        Some("Enabled")
    );

    // outputs name what an operator needs
    let outs: Value = serde_json::from_str(&w.ok(&["output", "--json"]).stdout).unwrap();
    for k in [
        "url",
        "alb_dns_name",
        "cluster_name",
        "database_endpoint",
        "config_secret_arn",
        "user_pool_id",
        "bucket",
    ] {
        assert!(outs[k].is_string(), "output {k} missing: {outs}");
    }
    assert_eq!(outs["bucket"], b);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alb_authenticates_with_cognito_before_forwarding() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let st = w.state();
    let out = |a: &str, o: &str| st["resources"][a]["outputs"][o].as_str().unwrap().to_string();

    let lbs = aws.elb.describe_load_balancers().names("empi-local-alb").send().await.unwrap();
    let lb = &lbs.load_balancers()[0];
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    let mut lb_subnets: Vec<String> =
        lb.availability_zones().iter().map(|z| z.subnet_id().unwrap().to_string()).collect();
    lb_subnets.sort();
    let mut public =
        vec![out("network.public_subnet[0]", "id"), out("network.public_subnet[1]", "id")];
    public.sort();
    assert_eq!(lb_subnets, public, "the ALB sits in the public subnets");
    assert_eq!(lb.security_groups(), [out("network.alb_security_group", "id")]);

    let listeners = aws
        .elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let http =
        listeners.listeners().iter().find(|l| l.port() == Some(80)).expect("an HTTP listener");
    let redirect = http.default_actions()[0].redirect_config().expect("HTTP redirects");
    assert_eq!(
        (redirect.protocol(), redirect.port(), redirect.status_code().map(|c| c.as_str())),
        (Some("HTTPS"), Some("443"), Some("HTTP_301"))
    );
    let https =
        listeners.listeners().iter().find(|l| l.port() == Some(443)).expect("an HTTPS listener");
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some("arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000001")
    );
    assert_eq!(https.ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"));

    let check_actions = |actions: &[aws_sdk_elasticloadbalancingv2::types::Action], tg: &str| {
        let mut a = actions.to_vec();
        a.sort_by_key(|x| x.order());
        let auth = a[0].authenticate_cognito_config().expect("first authenticate with Cognito");
        assert_eq!(auth.user_pool_arn(), Some(out("identity.user_pool", "arn").as_str()));
        assert_eq!(auth.user_pool_client_id(), Some(out("identity.app_client", "id").as_str()));
        assert_eq!(auth.user_pool_domain(), Some("empi-local"));
        assert_eq!(a[1].target_group_arn(), Some(out(tg, "arn").as_str()), "then forward");
    };
    check_actions(https.default_actions(), "edge.frontend_target_group");
    let rules =
        aws.elb.describe_rules().listener_arn(https.listener_arn().unwrap()).send().await.unwrap();
    let api = rules.rules().iter().find(|r| r.priority() == Some("10")).expect("the /api/* rule");
    let paths: Vec<String> = api
        .conditions()
        .iter()
        .flat_map(|c| {
            c.path_pattern_config()
                .map(|p| p.values().to_vec())
                .unwrap_or_else(|| c.values().to_vec())
        })
        .collect();
    assert_eq!(paths, ["/api/*"]);
    check_actions(api.actions(), "edge.api_target_group");

    // target groups: instance targets on fixed node ports, health-checked on paths that answer 200
    // (the api's through its health proxy's node port, docs/TUVA.md), attached to the node group's ASG
    for (tg, port, path, health_port) in [
        ("edge.api_target_group", 30080, "/api/v1/health-check", "30081"),
        ("edge.frontend_target_group", 30300, "/person_match", "traffic-port"),
    ] {
        let t = aws
            .elb
            .describe_target_groups()
            .target_group_arns(out(tg, "arn"))
            .send()
            .await
            .unwrap();
        let t = &t.target_groups()[0];
        assert_eq!(
            (t.port(), t.target_type().map(|x| x.as_str()), t.health_check_path()),
            (Some(port), Some("instance"), Some(path))
        );
        assert_eq!(
            (t.health_check_port(), t.matcher().and_then(|m| m.http_code())),
            (Some(health_port), Some("200")),
            "{tg}"
        );
    }
    let asg = out("cluster.node_group", "autoscaling_group_name");
    let attached = aws
        .autoscaling
        .describe_load_balancer_target_groups()
        .auto_scaling_group_name(&asg)
        .send()
        .await
        .unwrap();
    let mut got: Vec<String> = attached
        .load_balancer_target_groups()
        .iter()
        .map(|t| t.load_balancer_target_group_arn().unwrap().to_string())
        .collect();
    got.sort();
    let mut want =
        vec![out("edge.api_target_group", "arn"), out("edge.frontend_target_group", "arn")];
    want.sort();
    assert_eq!(got, want);

    // WAF with the AWS managed common, known-bad-inputs and SQL-injection rule sets, on the ALB
    let acl = aws
        .wafv2
        .get_web_acl_for_resource()
        .resource_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let acl = acl.web_acl().expect("a web ACL on the ALB");
    let groups: Vec<&str> = acl
        .rules()
        .iter()
        .filter_map(|r| {
            r.statement().and_then(|s| s.managed_rule_group_statement()).map(|m| m.name())
        })
        .collect();
    assert_eq!(
        groups,
        [
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesSQLiRuleSet"
        ]
    );
    let mut priorities: Vec<i32> = acl.rules().iter().map(|r| r.priority()).collect();
    priorities.dedup();
    assert_eq!(priorities.len(), 4, "one priority per rule group, and the body-size rule");
    // issue #27: upstream's import takes a multipart upload, and the core rule set blocks every
    // body over 8 KB; there its SizeRestrictions_BODY only counts, and a rule after the groups
    // blocks what it labels on every other path
    let core = acl.rules()[0].statement().unwrap().managed_rule_group_statement().unwrap();
    let overrides: Vec<_> = core
        .rule_action_overrides()
        .iter()
        .map(|o| (o.name(), o.action_to_use().and_then(|a| a.count()).is_some()))
        .collect();
    assert_eq!(overrides, [("SizeRestrictions_BODY", true)]);
    let elsewhere = &acl.rules()[3];
    assert_eq!(elsewhere.name(), "BodySizeOutsideLargeBodyPaths");
    assert_eq!(elsewhere.priority(), 3, "after the groups, whose labels it reads");
    assert!(elsewhere.action().and_then(|a| a.block()).is_some());
    let both = elsewhere.statement().unwrap().and_statement().unwrap().statements();
    assert_eq!(
        both[0].label_match_statement().map(|l| l.key()),
        Some("awswaf:managed:aws:core-rule-set:SizeRestrictions_Body")
    );
    let path =
        both[1].not_statement().unwrap().statement().unwrap().byte_match_statement().unwrap();
    assert_eq!(path.search_string().as_ref(), b"/api/v1/person-records/import");
    assert_eq!(path.positional_constraint().as_str(), "STARTS_WITH");
    assert!(path.field_to_match().and_then(|f| f.uri_path()).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn node_count_changes_in_place_and_forced_replacements_are_loud() {
    let w = Workspace::new(&[]);
    w.write_stack(&[(
        "[database]",
        "[cluster.nodes]\nmin = 2\nmax = 4\ndesired = 2\n\n[database]",
    )]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    async fn arn(aws: &common::Aws) -> String {
        aws.eks
            .describe_nodegroup()
            .cluster_name("empi-local")
            .nodegroup_name("empi-local-nodes")
            .send()
            .await
            .unwrap()
            .nodegroup()
            .unwrap()
            .nodegroup_arn()
            .unwrap()
            .to_string()
    }
    let before = arn(&aws).await;
    w.write_stack(&[(
        "[database]",
        "[cluster.nodes]\nmin = 2\nmax = 4\ndesired = 3\n\n[database]",
    )]);
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2);
    assert!(
        plan.stdout.contains("  ~ cluster.node_group (aws_eks_node_group)")
            && plan.stdout.contains("desired_size = 2 -> 3"),
        "{plan:?}"
    );
    assert!(!plan.stdout.contains("-/+"), "{plan:?}");
    w.ok(&["apply", "--auto-approve"]);
    let ng = aws
        .eks
        .describe_nodegroup()
        .cluster_name("empi-local")
        .nodegroup_name("empi-local-nodes")
        .send()
        .await
        .unwrap();
    assert_eq!(ng.nodegroup().unwrap().scaling_config().unwrap().desired_size(), Some(3));
    assert_eq!(arn(&aws).await, before, "the same node group, updated in place");

    // the cost of a second NAT gateway: one NAT gateway's month and its public IPv4 address
    // ($0.045 + $0.005 an hour, 730 hours), in the plan's JSON, its text and its comment
    w.write_stack(&[(
        "[database]",
        "[cluster.nodes]\nmin = 2\nmax = 4\ndesired = 3\n\n[network]\nnat_gateways = 2\n\n[database]",
    )]);
    let plan: Value = serde_json::from_str(&w.ok(&["plan", "--json"]).stdout).unwrap();
    let cost = &plan["cost"];
    let (before, after) =
        (cost["monthly_before"].as_f64().unwrap(), cost["monthly_after"].as_f64().unwrap());
    assert!(before > 300.0, "an existing stack is priced: {cost}");
    let rise = after - before;
    assert!((33.0..=37.0).contains(&rise), "a NAT gateway and its address: {rise} {cost}");
    assert!((rise - 36.5).abs() < 0.005, "{rise}");
    assert_eq!(cost["currency"], "USD");
    assert!(cost["prices_as_of"].as_str().unwrap().starts_with("20"), "{cost}");
    let line = |address: &str| {
        cost["lines"].as_array().unwrap().iter().find(|l| l["address"] == address).cloned()
    };
    let nat = line("network.nat_gateway[1]").expect("the new NAT gateway is priced");
    assert_eq!(
        (nat["monthly_before"].as_f64(), nat["monthly_after"].as_f64()),
        (Some(0.0), Some(32.85))
    );
    assert_eq!(line("network.nat_eip[1]").unwrap()["monthly_after"].as_f64(), Some(3.65));
    assert!(
        cost["assumptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains("per GB processed")),
        "data processed is usage, stated not guessed: {cost}"
    );
    let text = w.ok(&["plan"]).stdout;
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("Monthly cost: $") && last.contains(" (+$36.50), AWS list prices of "),
        "{text}"
    );
    assert!(text.contains("network.nat_gateway[1]") && text.contains("+$32.85"), "{text}");
    let md = w.ok(&["plan", "--format", "markdown", "--out", "nat.plan"]).stdout;
    assert!(md.starts_with("<!-- empi-infra-plan: empi-local -->\n"), "{md}");
    assert!(md.contains("**Cost**: +$36.50 a month"), "{md}");
    assert!(!md.contains("Saved the plan"), "a comment body only: {md}");
    let shown = w.ok(&["show", "--format", "markdown", "nat.plan"]).stdout;
    assert_eq!(shown, md, "show prints the saved plan's comment, cost included, without the cloud");

    // a new VPC CIDR replaces the network, and the plan says which attribute forces it
    w.write_stack(&[("[database]", "[cluster.nodes]\nmin = 2\nmax = 4\ndesired = 3\n\n[network]\ncidr = \"10.50.0.0/16\"\n\n[database]")]);
    let plan = w.run(&["plan"]);
    assert!(plan.stdout.contains("  -/+ network.vpc (aws_vpc)"), "{plan:?}");
    assert!(
        plan.stdout
            .contains("cidr_block = \"10.40.0.0/16\" -> \"10.50.0.0/16\"  # forces replacement"),
        "{plan:?}"
    );
    // …and with it the database (a subnet group cannot move VPC), which apply refuses without consent
    assert!(plan.stdout.contains("  -/+ database.instance (aws_db_instance)"), "{plan:?}");
    assert!(
        plan.stdout.contains("# WARNING: replacing database.instance destroys the data it holds"),
        "{plan:?}"
    );
    let refused = w.run(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("holds data that replacement destroys")
            && refused.stderr.contains("--allow-replace"),
        "{refused:?}"
    );
    assert_eq!(
        aws.ec2
            .describe_vpcs()
            .filters(filter("cidr", "10.50.0.0/16"))
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
        0,
        "nothing was changed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_database_is_not_destroyed_and_the_rest_is() {
    let w = Workspace::new(&[("deletion_protection = false", "deletion_protection = true")]);
    w.ok(&["apply", "--auto-approve"]);
    let d = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        d.stderr
            .contains("set `deletion_protection = false` under [database], run `empi-infra apply`, then run `empi-infra destroy` again"),
        "{d:?}"
    );
    let aws = w.aws().await;
    assert_eq!(
        aws.rds.describe_db_instances().send().await.unwrap().db_instances().len(),
        1,
        "the database survives"
    );
    assert!(
        aws.elb.describe_load_balancers().send().await.unwrap().load_balancers().is_empty(),
        "independent resources were destroyed"
    );
    let left: Vec<String> = w.state()["resources"].as_object().unwrap().keys().cloned().collect();
    assert!(left.contains(&"database.instance".to_string()), "{left:?}");
    // its master password stays readable where RDS keeps it (the config secret no longer holds it)
    let dbs = aws.rds.describe_db_instances().send().await.unwrap();
    let master = dbs.db_instances()[0]
        .master_user_secret()
        .and_then(|m| m.secret_arn())
        .expect("RDS keeps the master password");
    assert!(
        aws.secrets.get_secret_value().secret_id(master).send().await.is_ok(),
        "the master secret survives with the database"
    );

    // the two steps the message names
    w.write_stack(&[]); // deletion_protection = false
    w.ok(&["apply", "--auto-approve"]);
    w.ok(&["destroy", "--auto-approve"]);
    assert!(aws.rds.describe_db_instances().send().await.unwrap().db_instances().is_empty());
    let snaps = aws.rds.describe_db_snapshots().send().await.unwrap();
    let names: Vec<&str> =
        snaps.db_snapshots().iter().filter_map(|s| s.db_snapshot_identifier()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("empi-local-db-final-"), "{names:?}");
}
