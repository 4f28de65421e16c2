//! The IAM kinds of `crate::kinds::iam` in Terraform.

use super::*;

/// A role, its managed policy attachments and its inline policies, each a resource of its own as
/// Terraform writes them today (policy checks read `aws_iam_role_policy`).
pub(super) fn role(s: &Src) -> Vec<TfResource> {
    let role_name = || TfValue::Own("name", Box::new(s.name()));
    let mut out = vec![one(
        "aws_iam_role",
        vec![
            ("name", s.name()),
            ("assume_role_policy", TfValue::Json(Box::new(s.get("assume_role_policy")))),
            tags(s),
        ],
    )];
    for arn in elems(&s.expr("managed_policy_arns")) {
        let key = super::super::literal(&arn)
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        out.push(TfResource {
            ty: "aws_iam_role_policy_attachment",
            key: Some(key),
            attrs: vec![("role", role_name()), ("policy_arn", TfValue::E(arn))],
        });
    }
    for (name, doc) in members(&s.expr("inline_policies")) {
        out.push(TfResource {
            ty: "aws_iam_role_policy",
            key: Some(name.clone()),
            attrs: vec![
                ("name", lit(name)),
                ("role", role_name()),
                ("policy", TfValue::Json(Box::new(TfValue::E(doc)))),
            ],
        });
    }
    out
}

pub(super) fn oidc_provider(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_iam_openid_connect_provider",
        vec![
            ("url", s.get("url")),
            ("client_id_list", s.get("client_ids")),
            ("thumbprint_list", s.get("thumbprints")),
            tags(s),
        ],
    )]
}
