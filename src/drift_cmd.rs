//! `empi-infra drift`: one read-only comparison of the live cloud with state, its report, and the
//! notification a scheduler wants. Never takes the lock (it writes nothing); refuses to run while an
//! apply holds it, rather than report half-applied work as drift.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use empi_engine::drift;

use crate::{backend, connect, graph_of, load_stack};

/// One drift run; exit 0 no drift, 2 drift.
pub async fn run_once(stack: &Option<PathBuf>, json: bool, notify: Option<&str>, extra_ignore: &[String]) -> Result<ExitCode> {
    let stack = load_stack(stack)?;
    let backend = backend(&stack).await?;
    if let Some(h) = backend.lock_holder().await? {
        bail!(
            "`{}` by {}@{} (pid {}, since {}) holds the state lock, so the cloud may be half-changed; drift did not run. Run it again after that finishes (or, if that run is gone, `empi-infra state unlock {}`)",
            h.operation, h.owner, h.host, h.pid, h.created, h.id
        );
    }
    let state = backend.load().await?;
    if state.resources.is_empty() {
        bail!(
            "state records no resources for stack {:?}, so there is nothing to compare; run `empi-infra apply` first (or check --stack)",
            stack.name
        );
    }
    let (registry, account) = connect(&stack).await?;
    let graph = graph_of(&stack, &account)?;
    let mut ignore = stack.drift.ignore.clone();
    ignore.extend(extra_ignore.iter().cloned());
    let report = drift::detect(&registry, &state, &graph, &ignore, 10, &stack.digest).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", drift::render_text(&report));
    }
    if report.drifted() {
        if let Some(url) = notify {
            let body = drift::notification(&report);
            match reqwest::Client::new().post(url).json(&body).timeout(std::time::Duration::from_secs(15)).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => eprintln!("warning: the drift notification to {url} was answered with HTTP {}", r.status()),
                Err(e) => eprintln!("warning: could not send the drift notification to {url}: {e}"),
            }
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// What a drift run needs: read-only, nothing that changes the cloud.
pub const IAM_POLICY: &str = r#"
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "EmpiInfraDriftReadOnly",
      "Effect": "Allow",
      "Resource": "*",
      "Action": [
        "sts:GetCallerIdentity",
        "ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
        "ec2:DescribeInternetGateways", "ec2:DescribeAddresses", "ec2:DescribeNatGateways", "ec2:DescribeRouteTables",
        "ec2:DescribeVpcEndpoints", "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions",
        "iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy",
        "iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider",
        "eks:DescribeCluster", "eks:DescribeNodegroup",
        "rds:DescribeDBInstances", "rds:DescribeDBSubnetGroups", "rds:DescribeDBParameterGroups", "rds:DescribeDBParameters",
        "rds:ListTagsForResource",
        "cognito-idp:DescribeUserPool", "cognito-idp:ListUserPools", "cognito-idp:DescribeUserPoolDomain",
        "cognito-idp:DescribeUserPoolClient", "cognito-idp:ListUserPoolClients", "cognito-idp:AdminGetUser",
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
        "s3:ListBucket", "s3:GetEncryptionConfiguration", "s3:GetBucketPublicAccessBlock", "s3:GetBucketVersioning",
        "s3:GetBucketTagging",
        "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags",
        "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLoadBalancerTargetGroups",
        "wafv2:GetWebACL", "wafv2:ListWebACLs", "wafv2:GetWebACLForResource", "wafv2:ListTagsForResource"
      ]
    }
  ]
}
"#;
