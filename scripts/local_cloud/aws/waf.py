"""WAF (v2): associating the web ACL with the ALB as AWS answers it (src/aws/waf.rs drives it),
where moto 5.2.5 differs. Nothing here is always on.

Realistic mode (realism.on()): AssociateWebACL refuses a load balancer WAF cannot see yet (still
provisioning, or created moments ago) and one that does not exist.
"""
from .elb import alb_provisioning_now
from .realism import on, still_young


def _waf_unavailable_entity():
    """AWS: wafv2:AssociateWebACL with an ALB that is still provisioning answers 400
    WAFUnavailableEntityException `AWS WAF couldn't retrieve the resource that you requested.
    Retry your request.` (botocore wafv2 shape doc; terraform-provider-aws#29080, #17527; TF
    wafv2/web_acl_association.go retries it); with the ARN of no load balancer,
    WAFNonexistentItemException. moto associates any ARN."""
    import moto.wafv2.models as waf
    from moto.elbv2.models import elbv2_backends
    from moto.wafv2.exceptions import WAFNonexistentItemException, WAFv2ClientError

    class WAFUnavailableEntityException(WAFv2ClientError):
        def __init__(self):
            super().__init__("WAFUnavailableEntityException",
                             "AWS WAF couldn't retrieve the resource that you requested. Retry your request.")

    orig = waf.WAFV2Backend.associate_web_acl

    def associate_web_acl(self, web_acl_arn, resource_arn):
        if on() and web_acl_arn in self.wacls and ":elasticloadbalancing:" in resource_arn:
            region, account = resource_arn.split(":")[3:5]
            lb = elbv2_backends[account][region].load_balancers.get(resource_arn)
            if lb is None:
                raise WAFNonexistentItemException()
            # WAF sees a new load balancer only some time after it exists, even once it is active
            # (the shape doc: "It can take from a few seconds to a number of minutes for changes to
            # propagate"; terraform-provider-aws#29080 reports the error after the ALB is active)
            if alb_provisioning_now(lb) or still_young(lb, "waf_propagation_refusals", "waf_propagation_seconds"):
                raise WAFUnavailableEntityException()
        return orig(self, web_acl_arn, resource_arn)

    waf.WAFV2Backend.associate_web_acl = associate_web_acl


# --------------------------------------------------------------------------------------------


def install():
    _waf_unavailable_entity()
