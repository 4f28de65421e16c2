//! Identity kinds (Cognito): the user pool, its hosted-UI domain, the ALB's app client and the
//! initial admin user.

use super::MIN;
use crate::{iam, kind};

kind! {
    /// The user pool; email addresses are the usernames (Tuva EMPI requires it).
    UserPool, USER_POOL = "aws_cognito_user_pool" {
        username_attributes: Strings [force_new set],
        auto_verified_attributes: Strings [set],
        admin_create_user_only: Bool,
        // `OFF`, `OPTIONAL` or `ON`; the second factor is an authenticator app (TOTP).
        mfa_configuration: Str,
        // Cognito's password policy: `minimum_length`, `require_lowercase`, `require_uppercase`,
        // `require_numbers`, `require_symbols`, `temporary_password_validity_days`,
        // `password_history_size`.
        password_policy: Object,
        // `LITE`, `ESSENTIALS` or `PLUS` (threat protection needs `PLUS`).
        user_pool_tier: Str,
        // Threat protection: `OFF`, `AUDIT` or `ENFORCED`.
        advanced_security_mode: Str,
        deletion_protection: Bool,
        tags: Tags,
    }
    outputs: [id, arn, name],
    schema: .stateful().typical(3).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["cognito-idp:ListUserPools", "cognito-idp:DescribeUserPool", "cognito-idp:GetUserPoolMfaConfig"],
        create: ["cognito-idp:CreateUserPool", "cognito-idp:SetUserPoolMfaConfig", "cognito-idp:TagResource"],
        update: ["cognito-idp:UpdateUserPool", "cognito-idp:SetUserPoolMfaConfig", "cognito-idp:TagResource", "cognito-idp:UntagResource"],
        // deletion protection is lifted (UpdateUserPool) before the delete
        delete: ["cognito-idp:UpdateUserPool", "cognito-idp:DeleteUserPool"],
    }),
}

kind! {
    /// The hosted-UI domain prefix.
    Domain, DOMAIN = "aws_cognito_user_pool_domain" {
        user_pool_id: Str [force_new],
    }
    outputs: [id, domain],
    schema: .typical(5).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["cognito-idp:DescribeUserPoolDomain"],
        create: ["cognito-idp:CreateUserPoolDomain"],
        update: [],
        delete: ["cognito-idp:DeleteUserPoolDomain"],
    }),
}

kind! {
    /// The ALB's app client (OAuth code flow).
    Client, CLIENT = "aws_cognito_user_pool_client" {
        user_pool_id: Str [force_new],
        generate_secret: Bool [force_new],
        allowed_oauth_flows: Strings [set],
        allowed_oauth_scopes: Strings [set],
        callback_urls: Strings [set],
        supported_identity_providers: Strings [set],
        // `ENABLED`: sign-in, sign-up and password-reset answers do not say whether a user exists.
        prevent_user_existence_errors: Str,
    }
    outputs: [id, user_pool_id],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["cognito-idp:ListUserPoolClients", "cognito-idp:DescribeUserPoolClient"],
        create: ["cognito-idp:CreateUserPoolClient"],
        update: ["cognito-idp:UpdateUserPoolClient"],
        delete: ["cognito-idp:DeleteUserPoolClient"],
    }),
}

kind! {
    /// The initial admin (`bootstrap` looks it up by email and needs exactly one match).
    User, USER = "aws_cognito_user" {
        user_pool_id: Str [force_new],
        email: Str [force_new],
        email_verified: Bool,
    }
    outputs: [id, username, sub],
    schema: .stateful().typical(1).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["cognito-idp:AdminGetUser"],
        create: ["cognito-idp:AdminCreateUser"],
        update: ["cognito-idp:AdminUpdateUserAttributes"],
        delete: ["cognito-idp:AdminDeleteUser"],
    }),
}
