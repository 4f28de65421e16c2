"""ACM: the local account's certificate (the ALB's HTTPS listener, src/aws/elb.rs, names it).
Always on (both modes).
"""


# The certificate stacks/local.toml names: a real account would have one issued for the hostname.
# Every region of the local account has one under the same id (tests place the stack in others).
LOCAL_ACCOUNT = "123456789012"
LOCAL_DOMAIN = "empi.local.test"
LOCAL_CERTIFICATE_ID = "00000000-0000-4000-8000-000000000001"


def _local_certificate():
    """Seeds the local account's ACM with the demo certificate under a fixed ARN in every region
    (moto gives every certificate a random one), so that the HTTPS listener of the local stack
    finds it."""
    import moto.acm.models as acm

    orig_init = acm.AWSCertificateManagerBackend.__init__

    def __init__(self, region_name, account_id):
        orig_init(self, region_name, account_id)
        if account_id == LOCAL_ACCOUNT:
            arn = f"arn:aws:acm:{region_name}:{account_id}:certificate/{LOCAL_CERTIFICATE_ID}"
            cert = acm.CertBundle.generate_cert(LOCAL_DOMAIN, account_id=account_id, region=region_name)
            cert.arn = arn
            self._certificates[arn] = cert

    acm.AWSCertificateManagerBackend.__init__ = __init__


# --------------------------------------------------------------------------------------------


def install():
    _local_certificate()
