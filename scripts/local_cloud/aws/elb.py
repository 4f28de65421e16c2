"""Elastic Load Balancing (v2): the ALB, its listeners and rules as AWS has them (src/aws/elb.rs
drives them), where moto 5.2.5 differs. Nothing here is always on.

Realistic mode (realism.on()): a new load balancer is `provisioning` for a while; authenticate-oidc
actions need their client secret on every write and never show it; a load balancer with deletion
protection cannot be deleted. GET /moto-api/empi/elb-oidc-secrets answers in both modes (for tests:
whether each stored authenticate-oidc action has a client secret, never the secret).
"""
import copy
import json
import time

from .realism import knob, on


# --------------------------------------------------------------------------------------------
# Realistic mode: ALB provisioning (WAF's view of it: waf.py)


def _alb_provisioning():
    """AWS: a new load balancer is `provisioning` (botocore elbv2 LoadBalancerStateEnum; the
    LoadBalancerAvailable waiter retries on it) until it is set up, then `active`. moto
    activates every load balancer on any DescribeLoadBalancers; hold each one in provisioning
    for alb_provisioning_seconds after its creation."""
    import moto.elbv2.models as elbv2

    orig_init = elbv2.FakeLoadBalancer.__init__
    orig_activate = elbv2.FakeLoadBalancer.activate

    def __init__(self, *a, **kw):
        orig_init(self, *a, **kw)
        self.__dict__["_empi_created"] = time.monotonic()

    def activate(self):
        if alb_provisioning_now(self):
            return
        orig_activate(self)

    elbv2.FakeLoadBalancer.__init__ = __init__
    elbv2.FakeLoadBalancer.activate = activate


def alb_provisioning_now(lb):
    created = lb.__dict__.get("_empi_created")
    return (on() and created is not None and lb.state == "provisioning"
            and time.monotonic() - created < float(knob("alb_provisioning_seconds")))


# --------------------------------------------------------------------------------------------
# ELBv2 authenticate-oidc client secrets


OIDC_REQUIRED = ("Issuer", "AuthorizationEndpoint", "TokenEndpoint", "UserInfoEndpoint", "ClientId")


# ELBv2Backend method -> (the request member that holds the actions, whether it modifies)
_OIDC_OPERATIONS = {
    "create_listener": ("defaultActions", False),
    "modify_listener": ("defaultActions", True),
    "create_rule": ("actions", False),
    "modify_rule": ("actions", True),
}


def _lower_first(name):
    return name[:1].lower() + name[1:]


def _truthy(value):
    return value is True or str(value).lower() == "true"


def _oidc_configs(actions):
    """(index from 1, AuthenticateOidcConfig) of each action that carries one."""
    for i, action in enumerate(actions or []):
        config = action.get("AuthenticateOidcConfig") if isinstance(action, dict) else None
        if isinstance(config, dict):
            yield i + 1, config


def _stored_oidc_configs(fake_actions):
    """The AuthenticateOidcConfig dicts moto stores for a listener's or rule's actions."""
    out = []
    for action in fake_actions or []:
        config = getattr(action, "data", {}).get("AuthenticateOidcConfig")
        if action.type == "authenticate-oidc" and isinstance(config, dict):
            out.append(config)
    return out


def _elb_oidc_required_members(member, actions):
    """AWS: a request whose AuthenticateOidcConfig lacks a member the API model marks required
    (Issuer, AuthorizationEndpoint, TokenEndpoint, UserInfoEndpoint, ClientId: botocore elbv2
    AuthenticateOidcActionConfig `required`) answers 400 ValidationError in the query-protocol
    validator's words, e.g. `1 validation error detected: Value null at
    'defaultActions.1.member.authenticateOidcConfig.issuer' failed to satisfy constraint: Member
    must not be null` (the same validator's `Value null at 'availabilityZones' ... Member must not
    be null` is quoted for ELB in chilts/awssum#124 and boto/boto#1708; moto itself words the
    fixedResponseConfig check so). SDKs usually catch this before sending; moto accepts it."""
    from moto.elbv2.exceptions import ValidationError

    errors = []
    for index, config in _oidc_configs(actions):
        for name in OIDC_REQUIRED:
            if config.get(name) is None:
                errors.append(f"Value null at '{member}.{index}.member.authenticateOidcConfig.{_lower_first(name)}' "
                              "failed to satisfy constraint: Member must not be null")
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected"
        raise ValidationError(f"{count}: {'; '.join(errors)}")


def _elb_oidc_secret_on_write(backend, operation, member, modify, args):
    """AWS: ClientSecret "is required if you are creating a rule. If you are modifying a rule,
    you can omit this parameter if you set UseExistingClientSecret to true" (botocore elbv2
    AuthenticateOidcActionConfig). ModifyRule with neither answers 400 InvalidLoadBalancerAction
    `You must either specify a client secret or set UseExistingClientSecret to true`
    (ansible-collections/amazon.aws#1270 quotes it up to "You must either specify a cli"), with
    both `You cannot both specify a client secret and set UseExistingClientSecret to true`
    (amazon.aws#1877; its module_utils/elbv2.py never sends both). The quotes are ModifyRule's;
    the same action check is applied to ModifyListener, and to CreateListener/CreateRule, where
    there is no secret to keep. With UseExistingClientSecret the action keeps the secret stored
    for it (same place among the listener's or rule's authenticate-oidc actions, else the first).
    moto stores what it is given, secret or not."""
    from moto.elbv2.exceptions import InvalidLoadBalancerActionException

    actions = args.arguments.get("actions")
    _elb_oidc_required_members(member, actions)
    configs = [config for _, config in _oidc_configs(actions)]
    if not configs:
        return
    stored = []
    if modify:
        try:
            if operation == "modify_listener":
                owner = backend.describe_listeners(None, [args.arguments["arn"]])[0]
                stored = _stored_oidc_configs(owner.default_actions)
            else:
                owner = backend.describe_rules(listener_arn=None, rule_arns=[args.arguments["rule_arn"]])[0]
                stored = _stored_oidc_configs(owner.actions)
        except Exception:
            return  # moto answers the listener or rule that does not exist
    missing = InvalidLoadBalancerActionException(
        "You must either specify a client secret or set UseExistingClientSecret to true")
    actions = copy.deepcopy(actions)
    k = 0
    for action in actions:
        config = action.get("AuthenticateOidcConfig") if isinstance(action, dict) else None
        if not isinstance(config, dict):
            continue
        use_existing = _truthy(config.get("UseExistingClientSecret"))
        if config.get("ClientSecret") and use_existing:
            raise InvalidLoadBalancerActionException(
                "You cannot both specify a client secret and set UseExistingClientSecret to true")
        if not config.get("ClientSecret"):
            if not (modify and use_existing):
                raise missing
            old = (stored[k] if k < len(stored) else (stored[0] if stored else {})).get("ClientSecret")
            if not old:
                raise missing
            config["ClientSecret"] = old
        config.pop("UseExistingClientSecret", None)
        k += 1
    args.arguments["actions"] = actions


def _elb_oidc_client_secret():
    """AWS: DescribeListeners and DescribeRules (and the Listeners/Rules that Create*/Modify*
    answer) never return an AuthenticateOidcConfig's ClientSecret: terraform-provider-aws
    internal/service/elbv2 says "The LB API currently provides no way to read the ClientSecret"
    and passes the configured value through to state; nor UseExistingClientSecret
    (amazon.aws module_utils/elbv2.py: "AWS api also won't return UseExistingClientSecret").
    moto echoes both. The answer leaves them out; what moto stores keeps the secret. Writes are
    checked as in _elb_oidc_secret_on_write."""
    import inspect

    import moto.elbv2.models as elbv2

    def get_config(self):
        config = self.__dict__.get("AuthenticateOidcConfig")
        if on() and isinstance(config, dict):
            return {k: v for k, v in config.items() if k not in ("ClientSecret", "UseExistingClientSecret")}
        return config

    def set_config(self, value):
        self.__dict__["AuthenticateOidcConfig"] = value

    # a data descriptor wins over the instance attribute FakeAction.__init__ copies from `data`
    elbv2.FakeAction.AuthenticateOidcConfig = property(get_config, set_config)

    for operation, (member, modify) in _OIDC_OPERATIONS.items():
        orig = getattr(elbv2.ELBv2Backend, operation)
        sig = inspect.signature(orig)

        def wrapped(self, *a, orig=orig, sig=sig, operation=operation, member=member, modify=modify, **kw):
            if not on():
                return orig(self, *a, **kw)
            args = sig.bind(self, *a, **kw)
            _elb_oidc_secret_on_write(self, operation, member, modify, args)
            return orig(*args.args, **args.kwargs)

        setattr(elbv2.ELBv2Backend, operation, wrapped)


def _elb_oidc_secrets_endpoint():
    """GET /moto-api/empi/elb-oidc-secrets: for tests, each stored authenticate-oidc action as
    {"arn": listener (default actions) or rule ARN, "client_id", "has_client_secret"}; never the
    secret itself. Answers in both modes."""
    import moto.moto_api._internal.urls as api_urls
    from moto.elbv2.models import elbv2_backends

    def elb_oidc_secrets(request, full_url, headers):
        out = []
        for _account, _region, backend in list(elbv2_backends.iter_backends()):
            for lb in list(backend.load_balancers.values()):
                for listener in list(lb.listeners.values()):
                    owners = [(listener.arn, listener.default_actions)]
                    owners += [(rule.arn, rule.actions) for rule in list(listener._non_default_rules.values())]
                    for arn, actions in owners:
                        for config in _stored_oidc_configs(actions):
                            out.append({"arn": arn, "client_id": config.get("ClientId"),
                                        "has_client_secret": bool(config.get("ClientSecret"))})
        return 200, {"Content-Type": "application/json"}, json.dumps(out)

    api_urls.url_paths["{0}/moto-api/empi/elb-oidc-secrets$"] = elb_oidc_secrets


# --------------------------------------------------------------------------------------------
# ALB deletion protection


def _alb_deletion_protection():
    """AWS: DeleteLoadBalancer of a load balancer whose attribute deletion_protection.enabled is
    true answers 400 OperationNotPermitted `Load balancer '<arn>' cannot be deleted because
    deletion protection is enabled` (botocore elbv2 OperationNotPermittedException; TF
    `lb.go` documents `enable_deletion_protection` as preventing Terraform's own delete). moto
    deletes it."""
    import moto.elbv2.responses as elb_responses
    from moto.elbv2.exceptions import ELBClientError

    R = elb_responses.ELBV2Response
    orig = R.delete_load_balancer

    def delete_load_balancer(self):
        arn = self._get_param("LoadBalancerArn")
        lb = self.elbv2_backend.load_balancers.get(arn)
        if on() and lb is not None and lb.attrs.get("deletion_protection.enabled") == "true":
            raise ELBClientError(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled")
        return orig(self)

    R.delete_load_balancer = delete_load_balancer


# --------------------------------------------------------------------------------------------


def install():
    _alb_provisioning()
    _elb_oidc_client_secret()
    _elb_oidc_secrets_endpoint()
    _alb_deletion_protection()
