"""Cognito user pools as AWS has them (src/aws/cognito.rs drives them), where moto 5.2.5 differs.
All of it is always on (both modes).

UpdateUserPool keeps the immutable pool settings; TagResource/UntagResource work; DeleteUserPool
refuses a pool with deletion protection.
"""


def _cognito_like_aws():
    """Two places where moto's Cognito differs from AWS in ways that matter to a provisioner:
    - UpdateUserPool drops UsernameAttributes/AliasAttributes (AWS keeps them: they are immutable
      after creation and UpdateUserPool does not even accept them);
    - TagResource/UntagResource are not implemented (AWS: tags on the pool's ARN)."""
    import moto.cognitoidp.models as m
    import moto.cognitoidp.responses as r
    from moto.core.responses import EmptyResult

    immutable = ("UsernameAttributes", "AliasAttributes", "UsernameConfiguration")
    orig_update = m.CognitoIdpUserPool.update_extended_config

    def update_extended_config(self, extended_config):
        kept = {k: self.extended_config[k] for k in immutable if k in getattr(self, "extended_config", {})}
        orig_update(self, extended_config)
        self.extended_config.update(kept)

    m.CognitoIdpUserPool.update_extended_config = update_extended_config

    def _pool_by_arn(backend, arn):
        return backend.describe_user_pool(arn.rsplit("/", 1)[-1])

    def tag_resource(self):
        pool = _pool_by_arn(self.backend, self._get_param("ResourceArn"))
        tags = pool.extended_config.setdefault("UserPoolTags", {})
        tags.update(self._get_param("Tags") or {})
        return EmptyResult()

    def untag_resource(self):
        pool = _pool_by_arn(self.backend, self._get_param("ResourceArn"))
        tags = pool.extended_config.setdefault("UserPoolTags", {})
        for k in self._get_param("TagKeys") or []:
            tags.pop(k, None)
        return EmptyResult()

    r.CognitoIdpResponse.tag_resource = tag_resource
    r.CognitoIdpResponse.untag_resource = untag_resource


def _cognito_deletion_protection():
    """AWS refuses DeleteUserPool while the pool's DeletionProtection is ACTIVE
    (InvalidParameterException, "The user pool cannot be deleted because deletion protection is
    activated. Deletion protection must be inactivated first."; Cognito developer guide, "User pool
    deletion protection"); moto stores the setting and deletes the pool anyway."""
    import moto.cognitoidp.models as m
    from moto.cognitoidp.exceptions import InvalidParameterException

    orig_delete = m.CognitoIdpBackend.delete_user_pool

    def delete_user_pool(self, user_pool_id):
        pool = self.describe_user_pool(user_pool_id)
        if pool.extended_config.get("DeletionProtection") == "ACTIVE":
            raise InvalidParameterException(
                "The user pool cannot be deleted because deletion protection is activated. "
                "Deletion protection must be inactivated first."
            )
        return orig_delete(self, user_pool_id)

    m.CognitoIdpBackend.delete_user_pool = delete_user_pool


# --------------------------------------------------------------------------------------------


def install():
    _cognito_like_aws()
    _cognito_deletion_protection()
