"""Secrets Manager: secrets and their values as AWS has them (src/aws/secrets.rs drives them), where
moto 5.2.5 differs. Nothing here is always on.

Realistic mode (realism.on()): CreateSecret with a value and PutSecretValue refuse a KMS key that is
not Enabled.
"""
from .kms import kms_refusal


def _secrets_kms_state():
    """AWS: Secrets Manager encrypts each secret value with the secret's KMS key; with a key that
    is disabled or pending deletion, CreateSecret (with a value) and PutSecretValue answer 400
    EncryptionFailure (botocore secretsmanager EncryptionFailure: "Secrets Manager can't encrypt
    the protected secret text using the provided KMS key. Check that the KMS key is available,
    enabled, and not in an invalid state."). moto stores the value whatever the key's state."""
    import moto.secretsmanager.responses as sm_responses
    import moto.secretsmanager.models as sm_models
    from moto.core.exceptions import JsonRESTError

    R = sm_responses.SecretsManagerResponse

    def refuse(self, key):
        reason = kms_refusal(self.current_account, self.region, key)
        if reason:
            raise JsonRESTError(
                "EncryptionFailure",
                "Secrets Manager can't encrypt the protected secret text using the provided KMS key. "
                f"Check that the KMS key is available, enabled, and not in an invalid state: {reason}")

    orig_create = R.create_secret

    def create_secret(self):
        if self._get_param("SecretString") is not None or self._get_param("SecretBinary") is not None:
            refuse(self, self._get_param("KmsKeyId"))
        return orig_create(self)

    orig_put = R.put_secret_value

    def put_secret_value(self):
        secret_id = self._get_param("SecretId")
        backend = sm_models.secretsmanager_backends[self.current_account][self.region]
        try:
            secret = backend.describe_secret(secret_id)
            key = getattr(secret, "kms_key_id", None)
        except Exception:
            key = None
        if key and not str(key).startswith("alias/aws/"):
            refuse(self, key)
        return orig_put(self)

    R.create_secret = create_secret
    R.put_secret_value = put_secret_value


# --------------------------------------------------------------------------------------------


def install():
    _secrets_kms_state()
