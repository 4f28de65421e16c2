//! WAF kinds: the web ACL of AWS managed rule groups, and its association with the ALB.

use super::MIN;
use crate::resource::Propagation;
use crate::{iam, kind};

kind! {
    /// The web ACL.
    WebAcl, WEB_ACL = "aws_wafv2_web_acl" {
        managed_rule_groups: Strings,
        // URI paths (prefixes) where a request body may exceed the 8 KB the core rule set's
        // SizeRestrictions_BODY allows: that rule only counts, and a rule after the groups blocks
        // what it labels everywhere else
        large_body_paths: Strings,
        tags: Tags,
    }
    outputs: [id, arn, name],
    schema: .typical(3).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["wafv2:ListWebACLs", "wafv2:GetWebACL", "wafv2:ListTagsForResource"],
        create: ["wafv2:CreateWebACL", "wafv2:TagResource"],
        update: ["wafv2:UpdateWebACL", "wafv2:TagResource", "wafv2:UntagResource"],
        delete: ["wafv2:DeleteWebACL"],
    }),
}

kind! {
    /// The web ACL's association with the ALB.
    WebAclAssociation, WEB_ACL_ASSOCIATION = "aws_wafv2_web_acl_association" {
        web_acl_arn: Str,
        resource_arn: Str [force_new],
    }
    outputs: [id],
    schema: .typical(2).timeouts(10 * MIN, 10 * MIN, 10 * MIN).iam(iam! {
        read: ["wafv2:GetWebACLForResource"],
        // AssociateWebACL on an ALB also needs SetWebAcl on it (WAF developer guide, "Permissions
        // for AssociateWebACL"), and so does DisassociateWebACL
        create: ["wafv2:AssociateWebACL", "elasticloadbalancing:SetWebAcl"],
        update: ["wafv2:AssociateWebACL", "elasticloadbalancing:SetWebAcl"],
        delete: ["wafv2:DisassociateWebACL", "elasticloadbalancing:SetWebAcl"],
    })
    // a new ALB is not visible to WAF while it provisions (terraform-provider-aws
    // internal/service/wafv2/web_acl_association.go retries this for its create timeout)
    .propagation(&[
        Propagation { code: "WAFUnavailableEntityException", message: "", waiting_for: "the load balancer not yet visible to WAF" },
    ]),
}

kind! {
    /// The web ACL's logging: every request WAF evaluates, to a log group (whose name must start
    /// with `aws-waf-logs-`).
    WebAclLogging, WEB_ACL_LOGGING = "aws_wafv2_web_acl_logging_configuration" {
        resource_arn: Str [force_new],
        log_destination_arn: Str,
    }
    outputs: [id],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["wafv2:GetLoggingConfiguration"],
        // WAF makes the log group's resource policy for its delivery service
        create: ["wafv2:PutLoggingConfiguration", "logs:CreateLogDelivery", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies"],
        update: ["wafv2:PutLoggingConfiguration", "logs:CreateLogDelivery", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies"],
        delete: ["wafv2:DeleteLoggingConfiguration", "logs:DeleteLogDelivery"],
    }),
}
