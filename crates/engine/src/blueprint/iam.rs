//! IAM: the cluster's and nodes' roles, and one IRSA role per service account.

use super::*;
use crate::kinds::iam;

/// The AWS managed policy an EKS cluster role needs.
pub const EKS_CLUSTER_POLICY: &str = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy";

/// The AWS managed policies of the worker node role.
pub const NODE_POLICIES: &[&str] = &[
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
];

/// Service accounts that get an IRSA role, and what each may do.
pub const SERVICE_ACCOUNTS: &[(&str, Access)] = &[
    ("api", Access { cognito_list_users: true, bucket: true, master_secret: false }),
    ("matching-service", Access { cognito_list_users: false, bucket: false, master_secret: false }),
    ("worker", Access { cognito_list_users: false, bucket: true, master_secret: false }),
    (
        super::workloads::DATABASE_ADMIN_SERVICE_ACCOUNT,
        Access { cognito_list_users: false, bucket: false, master_secret: true },
    ),
];

/// Thumbprint of the root CA of EKS OIDC issuers (IAM no longer checks it for them, but the API wants one).
pub const OIDC_THUMBPRINT: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";

/// What one IRSA role may do besides reading the config secret.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub cognito_list_users: bool,
    pub bucket: bool,
    /// Reads the RDS master user's secret (the database-role Job only).
    pub master_secret: bool,
}

pub(super) fn iam_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    let service_trust = |service: &str| {
        Expr::lit(json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
        }))
    };
    for (addr, name, service, policies) in [
        (
            "iam.cluster_role",
            format!("{n}-eks-cluster"),
            "eks.amazonaws.com",
            &[EKS_CLUSTER_POLICY][..],
        ),
        ("iam.node_role", format!("{n}-eks-node"), "ec2.amazonaws.com", NODE_POLICIES),
    ] {
        // EKS encrypts Kubernetes secrets as the cluster role: the stack's own key's policy names
        // it, a key the stack brings lets the account's IAM policies decide (its policy must have
        // the account-root statement, which plan checks), so the role carries one
        let inline = match (&stack.security.kms_key_arn, addr) {
            (Some(key), "iam.cluster_role") => json!({
                "UseBroughtKey": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
                        "Resource": key,
                    }],
                }
            }),
            _ => json!({}),
        };
        out.push(
            iam::Role {
                assume_role_policy: service_trust(service),
                managed_policy_arns: strings(policies),
                inline_policies: Expr::lit(inline),
                tags: tags(stack, addr, &name),
            }
            .spec(addr, &name),
        );
    }
    let oidc = format!("{n}-oidc");
    out.push(
        iam::OidcProvider {
            url: r(EKS_CLUSTER, "oidc_issuer"),
            client_ids: strings(&["sts.amazonaws.com"]),
            thumbprints: strings(&[OIDC_THUMBPRINT]),
            tags: tags(stack, "iam.oidc_provider", &oidc),
        }
        .spec("iam.oidc_provider", &oidc),
    );
    let bucket = bucket_name(stack, account);
    let job_runner = (stack.app.matching_job_runner == "k8s").then_some((
        super::workloads::MATCHING_JOB_SERVICE_ACCOUNT,
        Access { cognito_list_users: false, bucket: false, master_secret: false },
    ));
    for (sa, access) in SERVICE_ACCOUNTS.iter().copied().chain(job_runner) {
        let sa_ns = if sa == super::workloads::MATCHING_JOB_SERVICE_ACCOUNT {
            &stack.app.matching_job_namespace
        } else {
            &stack.app.namespace
        };
        let addr = format!("iam.{}_role", sa.replace('-', "_"));
        let name = format!("{n}-{sa}");
        let host = r("iam.oidc_provider", "issuer_host");
        let trust = Expr::Json(Box::new(cat(vec![
            s(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":""#,
            ),
            r("iam.oidc_provider", "arn"),
            s(r#""},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{""#),
            host.clone(),
            s(&format!(r#":sub":"system:serviceaccount:{sa_ns}:{sa}",""#)),
            host,
            s(r#":aud":"sts.amazonaws.com"}}}]}"#),
        ])));
        let allow = |sid: &str, action: Expr, resource: Expr| {
            obj(vec![
                ("Sid", s(sid)),
                ("Effect", s("Allow")),
                ("Action", action),
                ("Resource", resource),
            ])
        };
        let mut statements = vec![
            allow("ReadConfig", s("secretsmanager:GetSecretValue"), r("config.secret", "arn")),
            // the config secret and the bucket's objects are encrypted with the stack's key
            allow("UseKey", strings(&["kms:Decrypt", "kms:GenerateDataKey"]), kms_key_arn(stack)),
        ];
        // Tuva finds users through its identity provider: Cognito by the AWS API (this role), Keycloak
        // by its admin API with the client's own credentials (in the config secret, read above)
        if access.cognito_list_users && stack.identity.cognito_domain_prefix().is_some() {
            statements.push(allow(
                "FindUsers",
                s("cognito-idp:ListUsers"),
                r("identity.user_pool", "arn"),
            ));
        }
        if access.master_secret {
            statements.push(allow(
                "ReadMasterSecret",
                s("secretsmanager:GetSecretValue"),
                r("database.instance", "master_user_secret_arn"),
            ));
        }
        if access.bucket {
            statements.push(allow(
                "ListBucket",
                s("s3:ListBucket"),
                Expr::lit(format!("arn:aws:s3:::{bucket}")),
            ));
            statements.push(allow(
                "Objects",
                strings(&["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]),
                Expr::lit(format!("arn:aws:s3:::{bucket}/*")),
            ));
        }
        let policy = obj(vec![("Version", s("2012-10-17")), ("Statement", list(statements))]);
        out.push(
            iam::Role {
                assume_role_policy: trust,
                managed_policy_arns: Expr::lit(json!([])),
                inline_policies: obj(vec![("tuva-empi", policy)]),
                tags: tags(stack, &addr, &name),
            }
            .spec(&addr, &name)
            .after("storage.bucket"),
        );
    }
}
