"""IAM: propagation, as the other services' realistic mode sees it (src/aws/iam.rs drives IAM).
Nothing here is always on.

Realistic mode: a new role or user is not usable at once. This module records when each role is
made and says whether a principal has propagated; EKS's CreateCluster and CreateAccessEntry
(eks.py) refuse one that has not.
"""
import time

from .common import partition
from .realism import still_young


def _iam_role_times():
    """Records when each IAM role was created (moto's create_date has no sub-second use)."""
    import moto.iam.models as iam

    orig = iam.IAMBackend.create_role

    def create_role(self, *a, **kw):
        role = orig(self, *a, **kw)
        role.__dict__["_empi_created"] = time.monotonic()
        return role

    iam.IAMBackend.create_role = create_role


def find_principal(account, region, arn):
    """The IAM role or user an ARN names, or None."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account][partition(region)]
    for role in iam.get_roles():
        if role.arn == arn:
            return role
    for user in iam.users.values():
        if user.arn == arn:
            return user
    return None


def propagated(principal):
    return not still_young(principal, "iam_propagation_refusals", "iam_propagation_seconds")


# --------------------------------------------------------------------------------------------


def install():
    _iam_role_times()
