"""Permissions AWS evaluates beside the call itself (issue #27), checked against the caller's own
IAM policies. Nothing here is always on.

Realistic mode (realism.on()), and only when the caller is an IAM user or an assumed role that
moto knows (keys made by CreateAccessKey or AssumeRole): moto's default test keys act as the
account's root, which may do anything. The caller's policies are evaluated with moto's own policy
engine (moto.iam.access_control.IAMPolicy), taught `StringLike` conditions.

  - The first EKS cluster, EKS node group, load balancer, RDS instance and Auto Scaling group of an
    account make their service-linked role, with the caller's iam:CreateServiceLinkedRole
    (conditioned on iam:AWSServiceName).
  - CreateDBInstance with ManageMasterUserPassword makes the master user's secret (`rds!db-…`) as
    the caller: secretsmanager:CreateSecret and TagResource on it.
  - wafv2:AssociateWebACL and DisassociateWebACL on a load balancer need
    elasticloadbalancing:SetWebAcl on it.
"""
import fnmatch
import json
import uuid

from .common import account_region, partition
from .realism import on

# service principal -> the role AWS makes (IAM User Guide, "AWS services that work with IAM",
# the service-linked role column; EKS User Guide "Using service-linked roles for Amazon EKS")
SERVICE_LINKED_ROLES = {
    "eks.amazonaws.com": "AWSServiceRoleForAmazonEKS",
    "eks-nodegroup.amazonaws.com": "AWSServiceRoleForAmazonEKSNodegroup",
    "elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
    "rds.amazonaws.com": "AWSServiceRoleForRDS",
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
}


def _string_like(expected, actual):
    patterns = [expected] if isinstance(expected, str) else expected
    return any(fnmatch.fnmatchcase(actual, p) for p in patterns)


def _teach_string_like():
    """moto 5.2.5's policy engine knows only StringEquals and lets other operators pass."""
    from moto.iam import policy_conditions

    policy_conditions.CONDITION_OPERATIONS.setdefault("StringLike", _string_like)


def refused_caller(resp, action, resource, conditions=None):
    """The caller's ARN when its IAM policies do not allow `action` on `resource` (an explicit
    deny, or no allow), else None. None as well for a caller moto does not know."""
    if not on():
        return None
    from moto.iam.access_control import CreateAccessKeyFailure, IAMPolicy, PermissionResult, create_access_key

    account, region = account_region(resp)
    try:
        key = create_access_key(account, partition(region), resp.get_access_key(), dict(resp.headers))
    except CreateAccessKeyFailure:
        return None
    allowed = False
    for policy in key.collect_policies():
        result = IAMPolicy(policy).is_action_permitted(action, resource, incoming_condition_values=conditions or {})
        if result == PermissionResult.DENIED:
            return key.arn
        allowed = allowed or result == PermissionResult.PERMITTED
    return None if allowed else key.arn


def not_authorized(who, action, resource):
    """IAM's sentence for a refused call, as AWS services quote it."""
    return (f"User: {who} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action")


# (account, partition, service) whose linked role AWS has made here. Kept beside moto's IAM, not
# in it, so that the roles do not appear in the listings tests make of the stack's own roles.
_made = set()


def missing_service_linked_role(resp, service):
    """Makes `service`'s linked role as the caller when the account has none yet. Returns (caller,
    role name, role ARN) when the caller may not, else None."""
    from moto.iam.models import iam_backends

    if not on():
        return None
    account, region = account_region(resp)
    p = partition(region)
    path = f"/aws-service-role/{service}/"
    if (account, p, service) in _made or any(
            getattr(r, "path", None) == path for r in iam_backends[account][p].roles.values()):
        return None
    name = SERVICE_LINKED_ROLES[service]
    arn = f"arn:{p}:iam::{account}:role/aws-service-role/{service}/{name}"
    who = refused_caller(resp, "iam:CreateServiceLinkedRole", arn, {"iam:AWSServiceName": service})
    if who:
        return who, name, arn
    _made.add((account, p, service))
    return None


def require_service_linked_role(resp, service, error):
    """Raises `error(code, message)` with IAM's sentence when the account has no linked role for
    `service` yet and the caller may not make it (ELB and RDS answer AccessDenied so)."""
    refused = missing_service_linked_role(resp, service)
    if refused:
        who, _, arn = refused
        raise error("AccessDenied", not_authorized(who, "iam:CreateServiceLinkedRole", arn))


def _eks():
    """AWS: EKS makes AWSServiceRoleForAmazonEKS at the account's first CreateCluster, and
    AWSServiceRoleForAmazonEKSNodegroup (and Auto Scaling's) at its first CreateNodegroup; without
    the caller's iam:CreateServiceLinkedRole, 400 InvalidRequestException "Failed to create
    service linked role: AWSServiceRoleForAmazonEKSNodegroup due to missing permissions for
    'iam:CreateServiceLinkedRole'" (XenitAB/terraform-modules#396 quotes it). moto makes none."""
    import moto.eks.responses as eks_responses
    from moto.eks.exceptions import InvalidRequestException

    R = eks_responses.EKSResponse

    def guarded(orig, services):
        def handler(self):
            for service in services:
                refused = missing_service_linked_role(self, service)
                if refused:
                    _, name, _ = refused
                    raise InvalidRequestException(
                        message=f"Failed to create service linked role: {name} due to missing permissions for 'iam:CreateServiceLinkedRole'")
            return orig(self)
        return handler

    R.create_cluster = guarded(R.create_cluster, ["eks.amazonaws.com"])
    R.create_nodegroup = guarded(R.create_nodegroup, ["eks-nodegroup.amazonaws.com", "autoscaling.amazonaws.com"])


def _elb():
    """AWS: the account's first CreateLoadBalancer makes AWSServiceRoleForElasticLoadBalancing as
    the caller; without iam:CreateServiceLinkedRole, AccessDenied "User: … is not authorized to
    perform: iam:CreateServiceLinkedRole on resource: …/AWSServiceRoleForElasticLoadBalancing"
    (terraform-aws-modules/terraform-aws-eks#103, scholzj/aws-minikube#18 quote it)."""
    import moto.elbv2.responses as elb_responses
    from moto.elbv2.exceptions import ELBClientError

    R = elb_responses.ELBV2Response
    orig = R.create_load_balancer

    def create_load_balancer(self):
        require_service_linked_role(self, "elasticloadbalancing.amazonaws.com", ELBClientError)
        return orig(self)

    R.create_load_balancer = create_load_balancer


def _rds():
    """AWS: the account's first CreateDBInstance makes AWSServiceRoleForRDS as the caller; with
    ManageMasterUserPassword, RDS makes the secret `rds!db-<id>` as the caller too, which needs
    secretsmanager:CreateSecret and TagResource there (RDS User Guide, "Password management with
    Amazon RDS and AWS Secrets Manager", required permissions; aws-controllers-k8s/rds-controller
    #251). Refused: AccessDenied with IAM's sentence."""
    import moto.rds.responses as rds_responses
    from moto.rds.exceptions import RDSClientError

    R = rds_responses.RDSResponse
    orig = R.create_db_instance

    def create_db_instance(self):
        require_service_linked_role(self, "rds.amazonaws.com", RDSClientError)
        if str(self.params.get("ManageMasterUserPassword", "")).lower() == "true":
            account, region = account_region(self)
            secret = f"arn:{partition(region)}:secretsmanager:{region}:{account}:secret:rds!db-{uuid.uuid4()}-AbCdEf"
            for action in ("secretsmanager:CreateSecret", "secretsmanager:TagResource"):
                who = refused_caller(self, action, secret)
                if who:
                    raise RDSClientError("AccessDenied", not_authorized(who, action, secret))
        return orig(self)

    R.create_db_instance = create_db_instance


def _waf():
    """AWS: AssociateWebACL and DisassociateWebACL on an Application Load Balancer also need
    elasticloadbalancing:SetWebAcl on it (AWS WAF Developer Guide, "Permissions for
    AssociateWebACL"; terraform-provider-aws docs of aws_wafv2_web_acl_association). Refused:
    WAFv2 AccessDeniedException with IAM's sentence."""
    import moto.wafv2.responses as waf_responses
    from moto.wafv2.exceptions import WAFv2ClientError

    R = waf_responses.WAFV2Response

    def guarded(orig):
        def handler(self):
            resource = json.loads(self.body).get("ResourceArn", "")
            if ":elasticloadbalancing:" in resource:
                who = refused_caller(self, "elasticloadbalancing:SetWebAcl", resource)
                if who:
                    raise WAFv2ClientError("AccessDeniedException",
                                           not_authorized(who, "elasticloadbalancing:SetWebAcl", resource))
            return orig(self)
        return handler

    R.associate_web_acl = guarded(R.associate_web_acl)
    R.disassociate_web_acl = guarded(R.disassociate_web_acl)


def install():
    _teach_string_like()
    _eks()
    _elb()
    _rds()
    _waf()
