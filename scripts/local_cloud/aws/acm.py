"""ACM: the local account's certificate (the ALB's HTTPS listener, src/aws/elb.rs, names it).
Always on (both modes).
"""


# The certificate stacks/local.toml names: a real account would have one issued for the hostname.
# Every region of the local account has one under the same id (tests place the stack in others).
LOCAL_ACCOUNT = "123456789012"
LOCAL_DOMAIN = "empi.local.test"
LOCAL_CERTIFICATE_ID = "00000000-0000-4000-8000-000000000001"
# The certificates of the account: the demo's, and the one stacks/example-*.toml name (the tests
# plan those against the local cloud): (id, domain, other names).
CERTIFICATES = [
    (LOCAL_CERTIFICATE_ID, LOCAL_DOMAIN, ["*.local.test"]),
    ("11111111-2222-3333-4444-555555555555", "empi.example.org", []),
]


def _local_certificate():
    """Seeds the local account's ACM with the demo certificate under a fixed ARN in every region
    (moto gives every certificate a random one), issued, so that plan's certificate check and the
    HTTPS listener of the local stack find it. A certificate a test requests stays
    PENDING_VALIDATION for moto's ACM_VALIDATION_WAIT (60 s), as ACM's does until its DNS records
    validate it."""
    import moto.acm.models as acm

    orig_init = acm.AWSCertificateManagerBackend.__init__

    def __init__(self, region_name, account_id):
        orig_init(self, region_name, account_id)
        if account_id == LOCAL_ACCOUNT:
            for cert_id, domain, sans in CERTIFICATES:
                arn = f"arn:aws:acm:{region_name}:{account_id}:certificate/{cert_id}"
                # issued (moto leaves an Amazon-issued one PENDING_VALIDATION for its first 60 s,
                # which plan refuses); the demo's covers the hosts the tests move the stack to
                cert = acm.CertBundle.generate_cert(domain, account_id=account_id, region=region_name, sans=sans)
                cert.status = "ISSUED"
                cert.arn = arn
                self._certificates[arn] = cert

    acm.AWSCertificateManagerBackend.__init__ = __init__


# --------------------------------------------------------------------------------------------


def install():
    _local_certificate()
