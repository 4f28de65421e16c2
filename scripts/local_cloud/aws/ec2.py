"""EC2: VPCs' default security groups, subnets and zones, NAT gateways and launch templates as EC2
has them, where moto 5.2.5 differs (src/aws/network.rs, routing.rs and eks.rs' launch template
drive them).

Always on: a VPC's default security group allows inbound traffic from itself; tags set on a launch
template after its creation show in DescribeLaunchTemplates; a NAT gateway is `pending` before
`available` (state transition ec2::nat_gateway, see common.patch_status).

Realistic mode (realism.on()): CreateSubnet refuses a zone the region lacks and picks one of the
region's by default; DescribeAvailabilityZones answers OptInStatus and NetworkBorderGroup and
honours the opt-in-status filter; CreateFlowLogs refuses a delivery role IAM has not propagated yet.
"""
from .common import patch_status
from .realism import on


# --------------------------------------------------------------------------------------------
# Always on


def _default_security_group_like_aws():
    """AWS gives a VPC's default security group an inbound rule allowing all traffic from the group
    itself beside the allow-all outbound rule (VPC user guide, "Default security groups for your
    VPCs"); moto gives it only the outbound rule."""
    from moto.ec2.models import security_groups as sgm

    orig_create = sgm.SecurityGroupBackend.create_security_group

    def create_security_group(self, name, description, vpc_id=None, tags=None, force=False, is_default=None):
        group = orig_create(self, name, description, vpc_id=vpc_id, tags=tags, force=force, is_default=is_default)
        if is_default and vpc_id:
            # through moto's own authorize, so the rule is the one a revoke by the group's id names
            self.authorize_security_group_ingress(
                group.id, "-1", None, None, [], source_groups=[{"GroupId": group.id}], vpc_id=vpc_id,
            )
        return group

    sgm.SecurityGroupBackend.create_security_group = create_security_group


def _launch_template_tags():
    """EC2 CreateTags/DeleteTags on a launch template show in DescribeLaunchTemplates on AWS;
    moto 5.2.5 keeps the tags it had at creation."""
    import moto.ec2.models.launch_templates as lt

    lt.LaunchTemplate.tags = property(lambda self: self.get_tags(), lambda self, _value: None)


def _nat_gateway_transitions():
    """NAT gateways are `pending` before `available` (botocore ec2 NatGatewayState); moto makes
    them available at once."""
    from moto.ec2.models.nat_gateways import NatGateway

    patch_status(NatGateway, "ec2::nat_gateway", "pending", "available", attr="state")


# --------------------------------------------------------------------------------------------
# Realistic mode: availability zones


def _subnet_zone_in_region():
    """AWS: CreateSubnet in a zone the VPC's region does not have answers 400
    InvalidParameterValue `Value (<az>) for parameter availabilityZone is invalid. Subnets can
    currently only be created in the following availability zones: <the region's zones>.`, and
    without a zone AWS picks one of the region's. moto accepts any region's zone and defaults
    to us-east-1a in every region."""
    import inspect

    from moto.ec2.exceptions import InvalidAvailabilityZoneError
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
    from moto.ec2.models.subnets import SubnetBackend

    orig = SubnetBackend.create_subnet
    sig = inspect.signature(orig)

    def create_subnet(self, *a, **kw):
        if on():
            args = sig.bind(self, *a, **kw)
            args.apply_defaults()
            zones = RegionsAndZonesBackend.zones.get(self.region_name, [])
            az, az_id = args.arguments.get("availability_zone"), args.arguments.get("availability_zone_id")
            if zones and (az or az_id):
                if not any(z.name == az or (not az and z.zone_id == az_id) for z in zones):
                    raise InvalidAvailabilityZoneError(az or az_id, ", ".join(z.name for z in zones))
            elif zones:
                args.arguments["availability_zone"] = zones[0].name
            return orig(*args.args, **args.kwargs)
        return orig(self, *a, **kw)

    SubnetBackend.create_subnet = create_subnet


def _zone_opt_in_status():
    """AWS: every DescribeAvailabilityZones entry has OptInStatus (`opt-in-not-required` for
    AZs) and NetworkBorderGroup (the region for AZs) (botocore ec2 AvailabilityZone shape);
    moto omits them and ignores the opt-in-status filter."""
    from moto.ec2.models.availability_zones_and_regions import Zone
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    Zone.opt_in_status = property(lambda self: "opt-in-not-required" if on() else None)
    Zone.network_border_group = property(lambda self: self.region_name if on() else None)
    orig = RegionsAndZonesBackend.describe_availability_zones

    def describe_availability_zones(self, filters=None, *a, **kw):
        zones = orig(self, filters, *a, **kw)
        wanted = (filters or {}).get("opt-in-status")
        if on() and wanted:
            zones = [z for z in zones if "opt-in-not-required" in wanted]
        return zones

    RegionsAndZonesBackend.describe_availability_zones = describe_availability_zones


# --------------------------------------------------------------------------------------------


def _flow_log_role_propagation():
    """AWS: CreateFlowLogs delivering to CloudWatch Logs with a role IAM has not propagated yet
    answers 400 InvalidParameter `Unable to assume given IAM role.` (terraform-provider-aws
    internal/service/ec2/vpc_flow_log.go retries exactly this message for its IAM propagation
    timeout). moto accepts any role ARN at once."""
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses.flow_logs import FlowLogs

    from .common import account_region
    from .iam import find_principal, propagated

    orig = FlowLogs.create_flow_logs

    def create_flow_logs(self):
        if on():
            arn = self._get_param("DeliverLogsPermissionArn")
            role = find_principal(*account_region(self), arn) if arn else None
            if role is not None and not propagated(role):
                raise EC2ClientError("InvalidParameter", "Unable to assume given IAM role.")
        return orig(self)

    FlowLogs.create_flow_logs = create_flow_logs


# --------------------------------------------------------------------------------------------


def install():
    # always on
    _default_security_group_like_aws()
    _launch_template_tags()
    _nat_gateway_transitions()
    # realistic mode
    _subnet_zone_in_region()
    _zone_opt_in_status()
    _flow_log_role_propagation()
