//! IAM kinds: roles (with managed and inline policies) and the cluster's OIDC provider.

use super::MIN;
use crate::{iam, kind};

kind! {
    /// An IAM role: trust policy, attached managed policies and inline policies by name.
    Role, ROLE = "aws_iam_role" {
        assume_role_policy: Object [policy],
        managed_policy_arns: Strings [set],
        inline_policies: Object [policy],
        tags: Tags,
    }
    outputs: [id, name, arn],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy"],
        create: ["iam:CreateRole", "iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:TagRole", "iam:PassRole"],
        update: [
            "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy",
            "iam:DeleteRolePolicy", "iam:TagRole", "iam:UntagRole",
        ],
        delete: ["iam:DetachRolePolicy", "iam:DeleteRolePolicy", "iam:DeleteRole"],
    }),
}

kind! {
    /// The EKS cluster's OIDC identity provider (for IRSA).
    OidcProvider, OIDC_PROVIDER = "aws_iam_openid_connect_provider" {
        url: Str [force_new],
        client_ids: Strings [set],
        thumbprints: Strings [set],
        tags: Tags,
    }
    outputs: [id, arn, issuer_host],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider"],
        create: ["iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider"],
        update: [
            "iam:UpdateOpenIDConnectProviderThumbprint", "iam:AddClientIDToOpenIDConnectProvider",
            "iam:RemoveClientIDFromOpenIDConnectProvider", "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider",
        ],
        delete: ["iam:DeleteOpenIDConnectProvider"],
    }),
}
