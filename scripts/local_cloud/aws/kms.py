"""KMS: the state of a key, as the other services' realistic mode sees it (src/aws/kms.rs drives
KMS). moto's KMS needs no patch; RDS, EKS and Secrets Manager (rds.py, eks.py, secrets.py) refuse
to encrypt with a key that is not Enabled, as AWS does, through kms_refusal. Nothing to install.
"""
from .realism import on


def _kms_key(account, region, ref):
    """The moto KMS key `ref` names (key id, key ARN, alias name or alias ARN), or None."""
    from moto.kms.models import kms_backends

    if not ref:
        return None
    backend = kms_backends[account][region]
    try:
        return backend.describe_key(ref)
    except Exception:
        return None


def kms_refusal(account, region, ref):
    """Why AWS would refuse to encrypt with `ref` (a key that is not Enabled), or None."""
    if not (on() and ref):
        return None
    key = _kms_key(account, region, ref)
    if key is None:
        return f"{ref} is not found."
    if key.key_state != "Enabled":
        state = "pending deletion" if key.key_state == "PendingDeletion" else key.key_state.lower()
        return f"{key.arn} is {state}."
    return None
