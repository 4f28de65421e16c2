"""The local cloud's changes to moto 5.2.5, one module per AWS service (as src/aws/ has one per
service empi-infra drives). Each holds the service's always-on fixes (places where moto is not like
AWS, in both modes) and its realistic-mode behaviours (each checks realism.on() when it runs), and
installs them with its install(). Tests rely on AWS's behaviour, never on moto's gaps.

  eks.py      clusters, node groups, updates, access entries, versions, secrets encryption
  eks_addons.py  managed add-ons: their versions per Kubernetes minor, create/update/delete
  rds.py      DB instances, parameter groups, the master user's secret, Performance Insights
  ec2.py      default security groups, subnets and zones, NAT gateways, launch template tags
  elb.py      ALB provisioning and deletion protection, authenticate-oidc client secrets
  waf.py      AssociateWebACL and a load balancer WAF cannot see yet
  iam.py      IAM propagation (read by eks.py)
  kms.py      a KMS key's state (read by rds.py, eks.py, secrets.py); nothing to install
  secrets.py  Secrets Manager and the KMS key's state
  s3.py       GetBucketVersioning, tags at CreateBucket, conditional writes, TLS-only policies
  cognito.py  immutable pool settings, tagging, deletion protection
  acm.py      the local account's certificate
  side_permissions.py  what AWS checks beside a call (service-linked roles, the rds! secret,
              SetWebAcl) against the caller's own IAM policies; installed last, outermost
  common.py   state transitions (pending for a while, then ready) and the request's account/region
  realism.py  realistic mode's knobs (SETTINGS, GET/POST /moto-api/empi/realism), default transitions

moto_server.py (the entry point, which moto_zygote.py loads too) calls install() once, before
serving. Every behaviour's evidence is in its docstring; docs/AWS-FIDELITY.md lists them with
empi-infra's handling and tests.
"""
from . import acm, cognito, common, ec2, eks, eks_addons, elb, iam, rds, realism, s3, secrets, side_permissions, waf

# The order of installation. It matters only where two patches wrap the same moto attribute: the
# one installed later is the outer one (its check runs first). Every such pair is within one
# service, and that service's install() keeps the order the patches had when the always-on fixes
# lived in moto_server.py and realistic mode in realism.py, installed after them:
#  - eks: EKSResponse.create_cluster (checks version, role, zones, access config, then the KMS key);
#    Cluster.status and Nodegroup.status (the state transition, then UPDATING during an update);
#    describe_cluster and describe_nodegroup (counting reads, then settling updates);
#    EKSBackend.create_nodegroup (its Auto Scaling group, then the cluster's version by default);
#  - rds: RDSResponse.create_db_instance and modify_db_instance (the master user secret's check,
#    then Performance Insights' and the KMS key's, outermost).
# Only side_permissions wraps other services' attributes (last, outermost); the rest could come in any order; this is
# the order of their first patch in the old files. What spans services stays where it was:
#  - realism.install() serves /moto-api/empi/realism before elb.py serves
#    /moto-api/empi/elb-oidc-secrets (moto's API routes, in the same order as before);
#  - realism.apply_default_transitions() runs last: it replaces the "immediate" default that each
#    common.patch_status registers (eks::cluster, eks::nodegroup, rds::dbinstance,
#    ec2::nat_gateway) with realistic mode's short delays.
# side_permissions wraps EKS, ELB, RDS and WAF responses; it comes last so that a caller's missing
# permission is refused before any other check, as IAM decides before the service looks at it.
SERVICES = (eks, eks_addons, rds, cognito, ec2, acm, s3, iam, elb, waf, secrets, side_permissions)


def install():
    common.speed_ups()
    realism.install()
    for service in SERVICES:
        service.install()
    realism.apply_default_transitions()
