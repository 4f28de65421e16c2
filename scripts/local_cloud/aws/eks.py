"""EKS: clusters, node groups, updates and access entries as EKS has them (src/aws/eks.rs drives
them), where moto 5.2.5 differs.

Always on: clusters and node groups are CREATING before ACTIVE (state transitions, see
common.patch_status: eks::cluster, eks::nodegroup); a managed node group is backed by its Auto
Scaling group; a cluster has its cluster security group; node groups can be tagged. Implemented in
both modes, since moto lacks them: DescribeClusterVersions, UpdateClusterVersion, UpdateClusterConfig
as an update, DescribeUpdate, ListUpdates (of the cluster, a node group or an add-on:
eks_addons.py), UpdateNodegroupVersion, access entries and
AssociateEncryptionConfig; with realism off their updates finish at once and none of the realism
checks apply.

Realistic mode (realism.on()): CreateCluster refuses a role IAM has not propagated, a zone EKS
cannot use, a version EKS does not offer and a KMS key that is not Enabled; the cluster and its node
groups take one update at a time (UPDATING meanwhile); access entries follow the authentication
mode and IAM propagation; node groups refuse instance types of another architecture; with
nodegroup_delete_fails a node group is left DELETE_FAILED.
"""
import copy
import json
import time
from datetime import datetime, timezone

from moto.moto_api._internal import mock_random as random

import moto.eks.models as eks_models
import moto.eks.responses as eks_responses
import moto.eks.urls as eks_urls
from moto.core.responses import ActionResult, EmptyResult
from moto.eks.exceptions import (
    EKSError,
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)

from .common import account_region, count_reads, partition, patch_status
from .iam import find_principal, propagated
from .kms import kms_refusal
from .realism import SETTINGS, knob, lock, on

EKS = eks_responses.EKSResponse


def _eks_error(cls, message, **fields):
    """EKS errors carry the resource names next to `message` (botocore eks shapes); AWS
    omits the members that do not apply."""
    return cls(**{k: v for k, v in fields.items() if v is not None}, message=message)


# --------------------------------------------------------------------------------------------
# Always on: state transitions, the node group's Auto Scaling group, the cluster security
# group, node group tags


def _eks_clusters(self):
    c = self.eks_backend.clusters.get(self._get_param("name"))
    return [c] if c else []


def _eks_nodegroups(self):
    c = self.eks_backend.clusters.get(self._get_param("name"))
    if not c:
        return []
    ng = c.nodegroups.get(self._get_param("nodegroupName"))
    return [ng] if ng else []


def _nodegroup_asg():
    """Real EKS backs a managed node group with an Auto Scaling group (named in
    nodegroup.resources.autoScalingGroups); moto only names it. Create it, so that
    target groups can be attached to the node group's ASG as on AWS."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.ec2.models import ec2_backends

    orig = eks_models.EKSBackend.create_nodegroup

    def create_nodegroup(self, *a, **kw):
        ng = orig(self, *a, **kw)
        name = ng.resources["autoScalingGroups"][0]["name"]
        ec2 = ec2_backends[self.account_id][self.region_name]
        lt = ec2.create_launch_template(name, "", {"InstanceType": "m5.large", "ImageId": "ami-12c6146b"}, {})
        scaling = ng.scaling_config or {}
        autoscaling_backends[self.account_id][self.region_name].create_auto_scaling_group(
            name=name, availability_zones=[], desired_capacity=scaling.get("desiredSize", 0),
            max_size=scaling.get("maxSize", 1), min_size=scaling.get("minSize", 0),
            launch_config_name=None, launch_template={"LaunchTemplateId": lt.id, "Version": "$Latest"},
            vpc_zone_identifier=",".join(ng.subnets), default_cooldown=None, health_check_period=None,
            health_check_type=None, load_balancers=[], target_group_arns=[], placement_group=None,
            termination_policies=[], tags=[{"Key": "eks:nodegroup-name", "Value": ng.nodegroup_name,
            "ResourceId": name, "ResourceType": "auto-scaling-group", "PropagateAtLaunch": True}],
        )
        return ng

    eks_models.EKSBackend.create_nodegroup = create_nodegroup


def _eks_cluster_security_group():
    """Real EKS creates a cluster security group in the cluster's VPC and reports it as
    resourcesVpcConfig.clusterSecurityGroupId (nodes and control plane share it); moto does not.
    Create it, and delete it with the cluster, as EKS does."""
    from moto.ec2.models import ec2_backends

    orig_create = eks_models.EKSBackend.create_cluster
    orig_delete = eks_models.EKSBackend.delete_cluster

    def create_cluster(self, *a, **kw):
        cluster = orig_create(self, *a, **kw)
        ec2 = ec2_backends[self.account_id][self.region_name]
        subnets = cluster.resources_vpc_config.get("subnetIds") or []
        if subnets:
            vpc_id = ec2.get_subnet(subnets[0]).vpc_id
            sg = ec2.create_security_group(
                name=f"eks-cluster-sg-{cluster.name}", description="EKS created security group", vpc_id=vpc_id,
                tags={"aws:eks:cluster-name": cluster.name, f"kubernetes.io/cluster/{cluster.name}": "owned"},
            )
            cluster.resources_vpc_config["clusterSecurityGroupId"] = sg.id
        return cluster

    def delete_cluster(self, name, *a, **kw):
        cluster = self.clusters.get(name)
        sg = cluster and cluster.resources_vpc_config.get("clusterSecurityGroupId")
        result = orig_delete(self, name, *a, **kw)
        if sg:
            try:
                ec2_backends[self.account_id][self.region_name].delete_security_group(group_id=sg)
            except Exception:
                pass
        return result

    eks_models.EKSBackend.create_cluster = create_cluster
    eks_models.EKSBackend.delete_cluster = delete_cluster


def _eks_nodegroup_tags():
    """EKS TagResource/UntagResource work on node groups and add-ons too; moto 5.2.5 tags clusters
    only."""
    orig_tag = eks_models.EKSBackend.tag_resource
    orig_untag = eks_models.EKSBackend.untag_resource

    def nodegroup(self, arn):
        for c in self.clusters.values():
            for ng in c.nodegroups.values():
                if ng.arn == arn:
                    return ng
            for addon in c.__dict__.get("_empi_addons", {}).values():
                if addon.arn == arn:
                    return addon
        return None

    def tag_resource(self, resource_arn, tags):
        ng = nodegroup(self, resource_arn)
        if ng is None:
            return orig_tag(self, resource_arn, tags)
        ng.tags.update(tags)

    def untag_resource(self, resource_arn, tag_keys):
        ng = nodegroup(self, resource_arn)
        if ng is None:
            return orig_untag(self, resource_arn, tag_keys)
        for k in tag_keys or []:
            ng.tags.pop(k, None)

    eks_models.EKSBackend.tag_resource = tag_resource
    eks_models.EKSBackend.untag_resource = untag_resource


# --------------------------------------------------------------------------------------------
# Realistic mode: IAM propagation


def _eks_role_propagation():
    """AWS: CreateCluster with a role IAM has not propagated yet (or that does not exist, or
    whose trust policy does not name eks.amazonaws.com) answers 400 InvalidParameterException
    `Role with arn: <arn>, could not be assumed because it does not exist or the trusted entity
    is not correct` (terraform-aws-eks#2406, karpenter-blueprints#20; TF
    internal/service/eks/cluster.go retries it for 2 min). moto only checks the ARN's syntax."""
    orig = EKS.create_cluster

    def create_cluster(self):
        if on():
            arn = self._get_param("roleArn") or ""
            role = find_principal(*account_region(self), arn)
            trusted = role is not None and "eks.amazonaws.com" in json.dumps(
                getattr(role, "assume_role_policy_document", "") or "")
            if role is None or not trusted or not propagated(role):
                raise _eks_error(
                    InvalidParameterException,
                    f"Role with arn: {arn}, could not be assumed because it does not exist or the trusted entity is not correct",
                    clusterName=self._get_param("name"))
        return orig(self)

    EKS.create_cluster = create_cluster


# --------------------------------------------------------------------------------------------
# Realistic mode: availability zones


class UnsupportedAvailabilityZoneException(EKSError):
    TYPE = "UnsupportedAvailabilityZoneException"
    STATUS = 400


def _eks_unsupported_zones():
    """AWS: EKS cluster subnets can't reside in use1-az3, usw1-az2, cac1-az3 (EKS UG
    network-reqs.adoc); CreateCluster answers 400 UnsupportedAvailabilityZoneException with
    `clusterName`, `validZones` (zone names) and `Cannot create cluster '<n>' because <zone>, the
    targeted availability zone, does not currently have sufficient capacity to support the
    cluster. Retry and choose from these availability zones: ...` (botocore eks shape; body
    quoted in rancher/rancher#14224). moto does no zone check."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    orig = EKS.create_cluster

    def create_cluster(self):
        if on():
            account, region = account_region(self)
            ec2 = ec2_backends[account][region]
            bad_ids = set(knob("eks_unsupported_zone_ids"))
            for sid in (self._get_param("resourcesVpcConfig") or {}).get("subnetIds") or []:
                try:
                    subnet = ec2.get_subnet(sid)
                except Exception:
                    continue
                if subnet.availability_zone_id in bad_ids:
                    name = self._get_param("name")
                    valid = [z.name for z in RegionsAndZonesBackend.zones.get(region, []) if z.zone_id not in bad_ids]
                    raise _eks_error(
                        UnsupportedAvailabilityZoneException,
                        f"Cannot create cluster '{name}' because {subnet.availability_zone}, the targeted availability "
                        f"zone, does not currently have sufficient capacity to support the cluster. Retry and choose "
                        f"from these availability zones: {', '.join(valid)}",
                        clusterName=name, validZones=valid)
        return orig(self)

    EKS.create_cluster = create_cluster


# --------------------------------------------------------------------------------------------
# EKS versions


# version: (release, end of standard support, end of extended support, default platform version)
EKS_VERSIONS = {
    "1.28": ("2023-09-26", "2024-11-26", "2025-11-26", "eks.47"),
    "1.29": ("2024-01-23", "2025-03-23", "2026-03-23", "eks.40"),
    "1.30": ("2024-05-23", "2025-07-23", "2026-07-23", "eks.35"),
    "1.31": ("2024-09-26", "2025-11-26", "2026-11-26", "eks.30"),
    "1.32": ("2025-01-23", "2026-03-23", "2027-03-23", "eks.25"),
    "1.33": ("2025-05-29", "2026-07-29", "2027-07-29", "eks.18"),
    "1.34": ("2025-10-02", "2026-12-02", "2027-12-02", "eks.10"),
    "1.35": ("2026-01-27", "2027-03-27", "2028-03-27", "eks.6"),
    "1.36": ("2026-06-02", "2027-08-02", "2028-08-02", "eks.2"),
}
EKS_DEFAULT_VERSION = "1.35"
_OLD_STATUS = {"STANDARD_SUPPORT": "standard-support", "EXTENDED_SUPPORT": "extended-support",
               "UNSUPPORTED": "unsupported"}


def _day(s):
    return datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=timezone.utc)


def _today():
    pinned = knob("eks_versions_as_of")
    return _day(pinned) if pinned else datetime.now(timezone.utc)


def _add_months(day, months):
    y, m = divmod(day.month - 1 + months, 12)
    return day.replace(year=day.year + y, month=m + 1, day=min(day.day, 28)).strftime("%Y-%m-%d")


def eks_versions():
    """The calendar above, and the versions the knob `eks_new_versions` says EKS shipped since
    (AWS: 14 months of standard support and 12 of extended support from the release day)."""
    out = dict(EKS_VERSIONS)
    for v, released in (knob("eks_new_versions") or {}).items():
        rel = _day(released)
        if _today() >= rel:
            out[v] = (released, _add_months(rel, 14), _add_months(rel, 26), "eks.1")
    return out


def eks_version_status(version):
    """STANDARD_SUPPORT | EXTENDED_SUPPORT | UNSUPPORTED as of today, None if unknown."""
    versions = eks_versions()
    if version not in versions:
        return None
    _, end_std, end_ext, _ = versions[version]
    now = _today()
    if now < _day(end_std):
        return "STANDARD_SUPPORT"
    if now < _day(end_ext):
        return "EXTENDED_SUPPORT"
    return "UNSUPPORTED"


def _check_eks_version(version, cluster_name):
    """AWS: CreateCluster/UpdateClusterVersion with a version EKS does not offer answers 400
    InvalidParameterException `unsupported Kubernetes version <v>` (terraform-provider-aws
    #21410, #38796; terraform-aws-eks#3164)."""
    if on() and version is not None and eks_version_status(version) in (None, "UNSUPPORTED"):
        raise _eks_error(InvalidParameterException, f"unsupported Kubernetes version {version}",
                         clusterName=cluster_name)


def _eks_versions():
    """AWS: DescribeClusterVersions (GET /cluster-versions; botocore eks
    ClusterVersionInformation) lists versions with release/end-of-support dates and their
    status; CreateCluster without `version` uses the default one; an unknown or unsupported
    version is refused. moto: 404 for DescribeClusterVersions, any version accepted, default
    1.19."""

    def describe_cluster_versions(self):
        wanted = self.querystring.get("clusterVersions") or []  # repeated query key: a list
        default_only = self._get_param("defaultOnly") in (True, "true")
        include_all = self._get_param("includeAll") in (True, "true")
        status = self._get_param("versionStatus")
        old_status = self._get_param("status")
        out = []
        for v, (rel, end_std, end_ext, platform) in sorted(eks_versions().items(), key=lambda kv: [-int(x) for x in kv[0].split(".")]):
            st = eks_version_status(v)
            if wanted and v not in wanted:
                continue
            if default_only and v != EKS_DEFAULT_VERSION:
                continue
            if status and st != status:
                continue
            if old_status and _OLD_STATUS[st] != old_status:
                continue
            if st == "UNSUPPORTED" and not (include_all or wanted or status or old_status):
                continue
            out.append({
                "clusterVersion": v, "clusterType": "eks", "defaultPlatformVersion": platform,
                "defaultVersion": v == EKS_DEFAULT_VERSION, "releaseDate": _day(rel),
                "endOfStandardSupportDate": _day(end_std), "endOfExtendedSupportDate": _day(end_ext),
                "status": _OLD_STATUS[st], "versionStatus": st,
            })
        return ActionResult({"clusterVersions": out})

    EKS.describe_cluster_versions = describe_cluster_versions
    eks_urls.url_paths["{0}/cluster-versions$"] = eks_urls.response.dispatch

    orig = EKS.create_cluster

    def create_cluster(self):
        version = self._get_param("version")
        _check_eks_version(version, self._get_param("name"))
        result = orig(self)
        if on():
            cluster = self.eks_backend.clusters[self._get_param("name")]
            cluster.version = version or EKS_DEFAULT_VERSION
            cluster.platformVersion = eks_versions().get(cluster.version, (None,) * 4)[3] or cluster.platformVersion
        return result

    EKS.create_cluster = create_cluster

    orig_ng = eks_models.EKSBackend.create_nodegroup

    def create_nodegroup(self, *a, **kw):
        ng = orig_ng(self, *a, **kw)
        if on() and not kw.get("version"):
            # EKS: "If you don't specify a Kubernetes version, the cluster's version is used"
            ng.version = self.clusters[ng.cluster_name].version
        return ng

    eks_models.EKSBackend.create_nodegroup = create_nodegroup


# --------------------------------------------------------------------------------------------
# One EKS update at a time


def _updates(obj):
    return obj.__dict__.setdefault("_empi_updates", {})


def _settle(obj):
    """Finishes the updates of a cluster or node group whose time has come."""
    with lock:
        for rec in _updates(obj).values():
            u = rec["update"]
            if u["status"] != "InProgress":
                continue
            if on() and knob("eks_update_looks") is not None:
                # by count: this look is one of the update's first eks_update_looks
                rec["looks"] = rec.get("looks", 0) + 1
                if rec["looks"] <= int(knob("eks_update_looks")):
                    continue
            elif on() and time.monotonic() - rec["t0"] < float(knob("eks_update_seconds")):
                continue
            if rec["fail"]:
                u["status"] = "Failed"
                u["errors"] = [{"errorCode": "Unknown", "errorMessage": "The update failed (injected by eks_update_fails).",
                                "resourceIds": [rec["resource"]]}]
            else:
                rec["apply"]()
                u["status"] = "Successful"


def _in_progress(obj):
    _settle(obj)
    return next((r["update"] for r in _updates(obj).values() if r["update"]["status"] == "InProgress"), None)


def _start_update(obj, kind, params, apply, cluster_name, nodegroup_name=None):
    """Creates an InProgress update after the 409 check; returns it as the API shows it."""
    with lock:
        busy = _in_progress(obj)
        if busy is not None:
            what = f"nodegroup {nodegroup_name}" if nodegroup_name else f"cluster {cluster_name}"
            raise _eks_error(ResourceInUseException,
                             f"Cannot {kind} because {what} currently has update {busy['id']} in progress",
                             clusterName=cluster_name, nodegroupName=nodegroup_name)
        fail = on() and bool(knob("eks_update_fails"))
        if fail:
            SETTINGS["eks_update_fails"] = False  # one-shot
        update = {"id": str(random.uuid4()), "status": "InProgress", "type": kind,
                  "params": [{"type": t, "value": v} for t, v in params], "createdAt": datetime.now(timezone.utc),
                  "errors": []}
        _updates(obj)[update["id"]] = {"update": update, "t0": time.monotonic(), "fail": fail, "apply": apply,
                                       "resource": nodegroup_name or cluster_name}
        _settle(obj)  # realism off: finishes at once
        return copy.deepcopy(update)


def _cluster(self, name):
    cluster = self.eks_backend.clusters.get(name)
    if cluster is None:
        raise _eks_error(ResourceNotFoundException, f"No cluster found for name: {name}.")
    return cluster


def _nodegroup(self, cluster, ng_name):
    ng = cluster.nodegroups.get(ng_name)
    if ng is None:
        raise _eks_error(ResourceNotFoundException, f"No node group found for name: {ng_name}.",
                         clusterName=cluster.name, nodegroupName=ng_name)
    return ng


def _status_while_updating():
    """The cluster (node group) reports UPDATING while it has an update InProgress (botocore
    eks ClusterStatus/NodegroupStatus)."""
    for cls in (eks_models.Cluster, eks_models.Nodegroup):
        base = cls.status

        def _get(self, base=base):
            st = base.fget(self)
            if st in ("ACTIVE", "UPDATING"):
                return "UPDATING" if _in_progress(self) is not None else "ACTIVE"
            return st

        cls.status = property(_get, base.fset)

    # settle before the answer is serialized (members are read in shape order, status late)
    for method, kind in (("describe_cluster", "cluster"), ("describe_nodegroup", "nodegroup")):
        orig = getattr(EKS, method)

        def settled(self, orig=orig, kind=kind):
            cluster = self.eks_backend.clusters.get(self._get_param("name"))
            if cluster is not None:
                _settle(cluster)
                ng = cluster.nodegroups.get(self._get_param("nodegroupName") or "")
                if kind == "nodegroup" and ng is not None:
                    _settle(ng)
            return orig(self)

        setattr(EKS, method, settled)


def _merge_logging(current, requested):
    enabled = {}
    for entry in (current or {}).get("clusterLogging", []):
        for t in entry.get("types", []):
            enabled[t] = bool(entry.get("enabled"))
    for entry in (requested or {}).get("clusterLogging", []):
        for t in entry.get("types", []):
            enabled[t] = bool(entry.get("enabled"))
    on_ = [t for t, e in enabled.items() if e]
    off = [t for t, e in enabled.items() if not e]
    return {"clusterLogging": [x for x in ({"types": on_, "enabled": True}, {"types": off, "enabled": False}) if x["types"]]}


def _minor(version):
    return int(str(version).split(".")[1])


def _check_one_minor(cluster, version):
    """AWS: UpdateClusterVersion moves one minor version up, never more and never down: 400
    InvalidParameterException `Unsupported Kubernetes minor version update from 1.34 to 1.36`
    (EKS User Guide, "Update existing cluster to new Kubernetes version": "you can update only
    one minor version at a time" and no downgrade; the error as eksctl#4367 and
    terraform-aws-eks#1840 quote it). moto: any version."""
    if _minor(version) != _minor(cluster.version) + 1:
        raise _eks_error(InvalidParameterException,
                         f"Unsupported Kubernetes minor version update from {cluster.version} to {version}",
                         clusterName=cluster.name)


def _check_nodegroups_match(self, cluster):
    """AWS: the control plane is updated only once every managed node group runs its version:
    400 InvalidRequestException `Nodegroups <names> must be updated to match cluster version
    1.18 before updating cluster version` (terraform-provider-aws#19478 quotes it;
    awsdocs/amazon-eks-user-guide#475 added it to the troubleshooting guide). moto: no check."""
    behind = sorted(n for n, ng in cluster.nodegroups.items()
                    if str(ng.version) != str(cluster.version))
    if behind:
        raise _eks_error(InvalidRequestException,
                         f"Nodegroups {', '.join(behind)} must be updated to match cluster version {cluster.version} "
                         "before updating cluster version", clusterName=cluster.name)


def _eks_cluster_updates():
    """AWS (botocore eks): UpdateClusterVersion (POST /clusters/{name}/updates) and
    UpdateClusterConfig answer {"update": {id, status InProgress, type, params, createdAt,
    errors}}; the change lands when the update is Successful; DescribeUpdate/ListUpdates serve
    them. A second update while one is InProgress answers 409 ResourceInUseException `Cannot
    <Type> because cluster <n> currently has update <id> in progress`
    (aws-controllers-k8s/community#1192, aws-cdk#33452); several kinds of change in one
    UpdateClusterConfig answer 400 `Only one type of update can be allowed.`
    (crossplane-contrib/provider-aws#642; TF eks/cluster.go sends them one by one). moto: no
    UpdateClusterVersion/DescribeUpdate, UpdateClusterConfig answers the cluster. DeleteCluster
    during an update answers 409 too (TF eks/cluster.go retries ResourceInUseException "in
    progress" on delete)."""

    def update_cluster_version(self):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        version = self._get_param("version")
        _check_eks_version(version, name)
        if on():
            _check_one_minor(cluster, version)
            _check_nodegroups_match(self, cluster)
        platform = eks_versions().get(version, (None,) * 4)[3] or cluster.platformVersion

        def apply():
            cluster.version = version
            cluster.platformVersion = platform

        update = _start_update(cluster, "VersionUpdate", [("Version", version), ("PlatformVersion", platform)],
                               apply, name)
        return ActionResult({"update": update})

    def update_cluster_config(self):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        vpc = self._get_param("resourcesVpcConfig") or {}
        logging = self._get_param("logging")
        access = self._get_param("accessConfig")
        kinds = []
        endpoint = {k: vpc[k] for k in ("endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs") if k in vpc}
        network = {k: vpc[k] for k in ("subnetIds", "securityGroupIds") if k in vpc}
        if endpoint:
            params = [({"endpointPublicAccess": "EndpointPublicAccess", "endpointPrivateAccess": "EndpointPrivateAccess",
                        "publicAccessCidrs": "PublicAccessCidrs"}[k], json.dumps(v)) for k, v in endpoint.items()]
            kinds.append(("EndpointAccessUpdate", params, lambda: cluster.resources_vpc_config.update(endpoint)))
        if network:
            params = [({"subnetIds": "Subnets", "securityGroupIds": "SecurityGroups"}[k], json.dumps(v)) for k, v in network.items()]
            kinds.append(("VpcConfigUpdate", params, lambda: cluster.resources_vpc_config.update(network)))
        if logging:
            merged = _merge_logging(cluster.logging, logging)
            kinds.append(("LoggingUpdate", [("ClusterLogging", json.dumps(logging.get("clusterLogging", [])))],
                          lambda: setattr(cluster, "logging", merged)))
        if access and access.get("authenticationMode"):
            mode = access["authenticationMode"]
            _check_auth_mode_change(cluster, mode)
            kinds.append(("AccessConfigUpdate", [("AuthenticationMode", mode)],
                          lambda: _access_config(cluster).update(authenticationMode=mode)))
        for key, kind, ptype in (("upgradePolicy", "UpgradePolicyUpdate", "UpgradePolicy"),
                                 ("zonalShiftConfig", "ZonalShiftConfigUpdate", "ZonalShiftConfig"),
                                 ("kubernetesNetworkConfig", "AutoModeUpdate", "KubernetesNetworkConfig"),
                                 ("remoteNetworkConfig", "RemoteNetworkConfigUpdate", "RemoteNetworkConfig")):
            value = self._get_param(key)
            if value:
                attr = {"kubernetesNetworkConfig": "kubernetes_network_config",
                        "remoteNetworkConfig": "remote_network_config"}.get(key, "_empi_" + key)
                kinds.append((kind, [(ptype, json.dumps(value))], lambda a=attr, v=value: setattr(cluster, a, v)))
        if not kinds:
            raise _eks_error(InvalidParameterException, "No changes needed for the provided configuration.",
                             clusterName=name)
        if len(kinds) > 1 and on():
            raise _eks_error(InvalidParameterException, "Only one type of update can be allowed.", clusterName=name)
        if len(kinds) > 1:  # realism off: apply them all under the first update
            applies = [k[2] for k in kinds]
            kinds = [(kinds[0][0], sum((k[1] for k in kinds), []), lambda: [f() for f in applies])]
        kind, params, apply = kinds[0]
        return ActionResult({"update": _start_update(cluster, kind, params, apply, name)})

    def update_target(self, cluster):
        """The cluster, or its node group or add-on the update is of (`nodegroupName`, `addonName`)."""
        from .eks_addons import _addon
        ng_name, addon = self._get_param("nodegroupName"), self._get_param("addonName")
        if addon:
            return _addon(self, cluster, addon)
        return _nodegroup(self, cluster, ng_name) if ng_name else cluster

    def describe_update(self):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        ng_name = self._get_param("nodegroupName")
        obj = update_target(self, cluster)
        update_id = self._get_param("updateId")
        _settle(obj)
        rec = _updates(obj).get(update_id)
        if rec is None:
            raise _eks_error(ResourceNotFoundException, f"No update found for ID: {update_id}",
                             clusterName=name, nodegroupName=ng_name)
        return ActionResult({"update": copy.deepcopy(rec["update"])})

    def list_updates(self):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        obj = update_target(self, cluster)
        recs = sorted(_updates(obj).values(), key=lambda r: r["t0"])
        return ActionResult({"updateIds": [r["update"]["id"] for r in recs]})

    orig_delete = EKS.delete_cluster

    def delete_cluster(self):
        # TF eks/cluster.go retries DeleteCluster on ResourceInUseException "... in progress"
        cluster = self.eks_backend.clusters.get(self._get_param("name"))
        busy = cluster is not None and on() and _in_progress(cluster)
        if busy:
            raise _eks_error(ResourceInUseException,
                             f"Cannot delete because cluster {cluster.name} currently has update {busy['id']} in progress",
                             clusterName=cluster.name)
        return orig_delete(self)

    EKS.delete_cluster = delete_cluster
    EKS.update_cluster_version = update_cluster_version
    EKS.update_cluster_config = update_cluster_config
    EKS.describe_update = describe_update
    EKS.list_updates = list_updates
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/updates$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$"] = eks_urls.response.dispatch


def _eks_nodegroup_updates():
    """AWS (botocore eks): UpdateNodegroupVersion (POST .../update-version) and
    UpdateNodegroupConfig answer an InProgress update of type VersionUpdate / ConfigUpdate with
    UpdateParamType params (Version, ReleaseVersion, LabelsToAdd, MinSize, ...); one update at a
    time per node group (409). A node-group version above the cluster's answers 400 `Nodegroup
    Kubernetes version should be equal to Cluster kubernetes version <v> or NodeGroup kubernetes
    version <v>` (aws-controllers-k8s/community#2957). moto: no UpdateNodegroupVersion; its
    UpdateNodegroupConfig answers an already Successful update with param types not in the
    UpdateParamType enum."""
    orig_config = eks_models.EKSBackend.update_nodegroup_config

    def update_nodegroup_config(self):
        name, ng_name = self._get_param("name"), self._get_param("nodegroupName")
        cluster = _cluster(self, name)
        ng = _nodegroup(self, cluster, ng_name)
        kw = {k: self._get_param(p) for k, p in (("labels", "labels"), ("taints", "taints"),
                                                ("scaling_config", "scalingConfig"), ("update_config", "updateConfig"),
                                                ("node_repair_config", "nodeRepairConfig"))}
        params = []
        labels, taints = kw["labels"] or {}, kw["taints"] or {}
        if labels.get("addOrUpdateLabels"):
            params.append(("LabelsToAdd", json.dumps(labels["addOrUpdateLabels"])))
        if labels.get("removeLabels"):
            params.append(("LabelsToRemove", json.dumps(labels["removeLabels"])))
        if taints.get("addOrUpdateTaints"):
            params.append(("TaintsToAdd", json.dumps(taints["addOrUpdateTaints"])))
        if taints.get("removeTaints"):
            params.append(("TaintsToRemove", json.dumps(taints["removeTaints"])))
        for k, t in (("maxSize", "MaxSize"), ("minSize", "MinSize"), ("desiredSize", "DesiredSize")):
            if k in (kw["scaling_config"] or {}):
                params.append((t, str(kw["scaling_config"][k])))
        for k, t in (("maxUnavailable", "MaxUnavailable"), ("maxUnavailablePercentage", "MaxUnavailablePercentage")):
            if k in (kw["update_config"] or {}):
                params.append((t, str(kw["update_config"][k])))
        if kw["node_repair_config"]:
            params.append(("NodeRepairEnabled", json.dumps(kw["node_repair_config"].get("enabled"))))

        def apply():
            orig_config(self.eks_backend, cluster_name=name, nodegroup_name=ng_name, **kw)

        update = _start_update(ng, "ConfigUpdate", params, apply, name, ng_name)
        return ActionResult({"update": update})

    def update_nodegroup_version(self):
        name, ng_name = self._get_param("name"), self._get_param("nodegroupName")
        cluster = _cluster(self, name)
        ng = _nodegroup(self, cluster, ng_name)
        version = self._get_param("version") or cluster.version
        release = self._get_param("releaseVersion") or f"{version}.0-{_today():%Y%m%d}"
        if on() and version not in (cluster.version, ng.version):
            raise _eks_error(InvalidParameterException,
                             f"Nodegroup Kubernetes version should be equal to Cluster kubernetes version {cluster.version} "
                             f"or NodeGroup kubernetes version {ng.version}", clusterName=name, nodegroupName=ng_name)
        lt = self._get_param("launchTemplate")

        def apply():
            ng.version, ng.release_version = version, release
            if lt:
                ng.launch_template = {**(ng.launch_template or {}), **lt}

        params = [("Version", version), ("ReleaseVersion", release)]
        if lt:
            params += [(t, str(lt[k])) for k, t in (("name", "LaunchTemplateName"), ("version", "LaunchTemplateVersion")) if k in lt]
        update = _start_update(ng, "VersionUpdate", params, apply, name, ng_name)
        return ActionResult({"update": update})

    EKS.update_nodegroup_config = update_nodegroup_config
    EKS.update_nodegroup_version = update_nodegroup_version
    eks_urls.url_paths[
        "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$"] = eks_urls.response.dispatch


# --------------------------------------------------------------------------------------------
# Access entries


AUTH_MODES = ("CONFIG_MAP", "API_AND_CONFIG_MAP", "API")


def _access_config(cluster):
    return cluster.__dict__.setdefault(
        "access_config", {"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True})


def _check_auth_mode_change(cluster, mode):
    """EKS UG grant-k8s-access.adoc: "you can't change the authentication mode back to a mode
    that removes the EKS API and access entries" (CONFIG_MAP -> API_AND_CONFIG_MAP -> API)."""
    current = _access_config(cluster)["authenticationMode"]
    if mode not in AUTH_MODES:
        raise _eks_error(InvalidParameterException, f"Unsupported authentication mode {mode}", clusterName=cluster.name)
    if on() and AUTH_MODES.index(mode) < AUTH_MODES.index(current):
        raise _eks_error(InvalidParameterException, f"Unsupported authentication mode update from {current} to {mode}",
                         clusterName=cluster.name)


def _eks_access_config():
    """AWS: CreateCluster takes accessConfig {authenticationMode (API default CONFIG_MAP),
    bootstrapClusterCreatorAdminPermissions (default true)} and DescribeCluster returns it
    (botocore eks CreateAccessConfigRequest / AccessConfigResponse). moto drops it."""
    orig = EKS.create_cluster

    def create_cluster(self):
        access = self._get_param("accessConfig") or {}
        mode = access.get("authenticationMode", "CONFIG_MAP")
        if mode not in AUTH_MODES:
            raise _eks_error(InvalidParameterException, f"Unsupported authentication mode {mode}",
                             clusterName=self._get_param("name"))
        result = orig(self)
        cluster = self.eks_backend.clusters[self._get_param("name")]
        cluster.__dict__["access_config"] = {
            "authenticationMode": mode,
            "bootstrapClusterCreatorAdminPermissions": access.get("bootstrapClusterCreatorAdminPermissions", True)}
        if on() and mode != "CONFIG_MAP" and cluster.__dict__["access_config"]["bootstrapClusterCreatorAdminPermissions"]:
            _creator_access_entry(self, cluster)
        return result

    EKS.create_cluster = create_cluster


CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def _creator_access_entry(self, cluster):
    """AWS (EKS user guide, "Grant IAM users access to Kubernetes with EKS access entries";
    botocore eks CreateAccessConfigRequest.bootstrapClusterCreatorAdminPermissions): a cluster
    created with API or API_AND_CONFIG_MAP and bootstrapClusterCreatorAdminPermissions (the
    default) has an access entry for its creator's IAM principal (an assumed role's role, not the
    session), with AmazonEKSClusterAdminPolicy on the whole cluster. A CreateAccessEntry for the
    same principal then answers 409 ResourceInUseException (terraform-aws-eks #3293, #2969).
    moto keeps no access entries; realistic mode makes this one."""
    from moto.sts.models import sts_backends

    account, region = account_region(self)
    _, arn, _ = sts_backends[account]["global"].get_caller_identity(self.get_access_key(), region)
    # arn:P:sts::A:assumed-role/Role/Session -> arn:P:iam::A:role/Role; arn:P:sts::A:user/U -> iam
    head, _, resource = arn.partition(":sts::")
    if resource:
        acct, _, rest = resource.partition(":")
        if rest.startswith("assumed-role/"):
            rest = "role/" + rest.split("/")[1]
        arn = f"{head}:iam::{acct}:{rest}"
    kind = "role" if ":role/" in arn else "user"
    short = arn.rsplit("/", 1)[-1]
    now = datetime.now(timezone.utc)
    entries = cluster.__dict__.setdefault("_empi_access_entries", {})
    entries[arn] = {
        "clusterName": cluster.name, "principalArn": arn, "kubernetesGroups": [],
        "accessEntryArn": f"arn:{partition(region)}:eks:{region}:{account}:access-entry/{cluster.name}/{kind}/{account}/{short}/{random.uuid4()}",
        "createdAt": now, "modifiedAt": now, "tags": {}, "username": arn, "type": "STANDARD",
        "policies": {CLUSTER_ADMIN_POLICY: {"policyArn": CLUSTER_ADMIN_POLICY, "accessScope": {"type": "cluster"},
                                            "associatedAt": now, "modifiedAt": now}},
    }


def _eks_access_entries():
    """AWS (botocore eks): Create/Describe/List/DeleteAccessEntry, Associate/Disassociate/
    ListAssociatedAccessPolicies under /clusters/{name}/access-entries[/{principalArn}
    [/access-policies[/{policyArn}]]] (ARNs URL-encoded). On a CONFIG_MAP cluster they answer
    400 InvalidRequestException `The cluster's authentication mode must be set to one of [API,
    API_AND_CONFIG_MAP] to perform this operation.`; a principal IAM does not know (or has not
    propagated) answers 400 InvalidParameterException `The specified principalArn is invalid:
    invalid principal.` (TF eks/access_entry.go retries exactly that); an unknown entry answers
    404 ResourceNotFoundException `The specified principalArn could not be found...` (TF
    access_policy_association.go). moto: 404 Not yet implemented."""
    from urllib.parse import unquote

    def ctx(self, need_entry=True):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        if on() and _access_config(cluster)["authenticationMode"] == "CONFIG_MAP":
            raise _eks_error(InvalidRequestException,
                             "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
                             clusterName=name)
        entries = cluster.__dict__.setdefault("_empi_access_entries", {})
        principal = unquote(self._get_param("principalArn") or "")
        entry = entries.get(principal)
        if need_entry and entry is None:
            raise _eks_error(ResourceNotFoundException,
                             "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
                             clusterName=name)
        return cluster, entries, principal, entry

    def public(entry):
        return {k: v for k, v in entry.items() if k != "policies"}

    def create_access_entry(self):
        cluster, entries, principal, _ = ctx(self, need_entry=False)
        account, region = account_region(self)
        iam_principal = find_principal(account, region, principal)
        if on() and (iam_principal is None or not propagated(iam_principal)):
            raise _eks_error(InvalidParameterException, "The specified principalArn is invalid: invalid principal.",
                             clusterName=cluster.name)
        if principal in entries:
            raise _eks_error(ResourceInUseException, "The specified access entry resource is already in use on this cluster.",
                             clusterName=cluster.name)
        kind = "role" if ":role/" in principal else "user"
        short = principal.rsplit("/", 1)[-1]
        entry_type = self._get_param("type") or "STANDARD"
        username = self._get_param("username") or (
            f"arn:{partition(region)}:sts::{account}:assumed-role/{short}/{{{{SessionName}}}}" if kind == "role" else principal)
        now = datetime.now(timezone.utc)
        entries[principal] = {
            "clusterName": cluster.name, "principalArn": principal,
            "kubernetesGroups": self._get_param("kubernetesGroups") or [],
            "accessEntryArn": f"arn:{partition(region)}:eks:{region}:{account}:access-entry/{cluster.name}/{kind}/{account}/{short}/{random.uuid4()}",
            "createdAt": now, "modifiedAt": now, "tags": self._get_param("tags") or {},
            "username": username, "type": entry_type, "policies": {},
        }
        return ActionResult({"accessEntry": public(entries[principal])})

    def describe_access_entry(self):
        _, _, _, entry = ctx(self)
        return ActionResult({"accessEntry": public(entry)})

    def list_access_entries(self):
        _, entries, _, _ = ctx(self, need_entry=False)
        policy = self._get_param("associatedPolicyArn")
        arns = [p for p, e in entries.items() if not policy or policy in e["policies"]]
        return ActionResult({"accessEntries": sorted(arns)})

    def delete_access_entry(self):
        _, entries, principal, _ = ctx(self)
        del entries[principal]
        return EmptyResult()

    def associate_access_policy(self):
        cluster, _, principal, entry = ctx(self)
        policy = self._get_param("policyArn") or ""
        if on() and ":cluster-access-policy/" not in policy:
            raise _eks_error(InvalidParameterException, f"The specified policyArn {policy} is invalid.",
                             clusterName=cluster.name)
        now = datetime.now(timezone.utc)
        old = entry["policies"].get(policy)
        entry["policies"][policy] = {"policyArn": policy, "accessScope": self._get_param("accessScope") or {"type": "cluster"},
                                     "associatedAt": old["associatedAt"] if old else now, "modifiedAt": now}
        return ActionResult({"clusterName": cluster.name, "principalArn": principal,
                             "associatedAccessPolicy": entry["policies"][policy]})

    def list_associated_access_policies(self):
        cluster, _, principal, entry = ctx(self)
        return ActionResult({"clusterName": cluster.name, "principalArn": principal,
                             "associatedAccessPolicies": list(entry["policies"].values())})

    def disassociate_access_policy(self):
        _, _, _, entry = ctx(self)
        entry["policies"].pop(unquote(self._get_param("policyArn") or ""), None)
        return EmptyResult()

    for f in (create_access_entry, describe_access_entry, list_access_entries, delete_access_entry,
              associate_access_policy, list_associated_access_policies, disassociate_access_policy):
        setattr(EKS, f.__name__, f)
    # principalArn and policyArn are URL-encoded in the path, but the server decodes %2F before
    # routing: one route takes them all; moto's botocore router picks the operation.
    base = "{0}/clusters/(?P<name>[^/]+)/access-entries"
    eks_urls.url_paths[base + "$"] = eks_urls.response.dispatch
    eks_urls.url_paths[base + "/(?P<rest>.+)$"] = eks_urls.response.dispatch


# --------------------------------------------------------------------------------------------
# Node group stuck in DELETE_FAILED


def _nodegroup_delete_failed():
    """AWS: a node group whose deletion fails stays with status DELETE_FAILED and
    health.issues [{code Ec2SecurityGroupDeletionFailure, message, resourceIds}] (botocore eks
    NodegroupStatus / NodegroupIssueCode). With nodegroup_delete_fails, DeleteNodegroup answers
    the group DELETING and leaves it DELETE_FAILED instead of deleting it."""
    orig = EKS.delete_nodegroup

    def delete_nodegroup(self):
        if on() and knob("nodegroup_delete_fails"):
            cluster = _cluster(self, self._get_param("name"))
            ng = _nodegroup(self, cluster, self._get_param("nodegroupName"))
            ng.status = "DELETE_FAILED"
            ng.health = {"issues": [{
                "code": "Ec2SecurityGroupDeletionFailure",
                "message": "DependencyViolation - resource has a dependent object",
                "resourceIds": [ng.resources.get("remoteAccessSecurityGroup")]}]}
            answer = copy.copy(ng)
            answer.__dict__["_emu_status"] = "DELETING"
            answer.__dict__["health"] = {"issues": []}
            return ActionResult({"nodegroup": answer})
        return orig(self)

    EKS.delete_nodegroup = delete_nodegroup


# --------------------------------------------------------------------------------------------
# Architecture


def _ami_arch(ami_type):
    if "ARM_64" in ami_type:
        return "arm64"
    if "x86_64" in ami_type:
        return "x86_64"
    return None  # CUSTOM


def _nodegroup_architecture():
    """AWS: CreateNodegroup whose instanceTypes do not run the amiType's architecture answers
    400 InvalidParameterException `[t4g.small] is not a valid instance type for requested
    amiType AL2_x86_64` with clusterName and nodegroupName (ManagedKube/kubernetes-ops#231,
    HHS/simpler-grants-gov#12404, eksctl#7754). Architectures come from moto's instance type
    data (ProcessorInfo.SupportedArchitectures); amiType defaults to AL2_x86_64 as in moto.
    moto accepts any mix."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    orig = EKS.create_nodegroup

    def create_nodegroup(self):
        if on():
            ami_type = self._get_param("amiType") or eks_models.DEFAULT_AMI_TYPE
            types = self._get_param("instanceTypes") or ([] if self._get_param("launchTemplate") else ["t3.medium"])
            want = _ami_arch(ami_type)
            archs = {t: INSTANCE_TYPES.get(t, {}).get("ProcessorInfo", {}).get("SupportedArchitectures") for t in types}
            bad = [t for t, a in archs.items() if a and want and want not in a]
            if not bad and not want:
                kinds = {tuple(sorted(a)) for a in archs.values() if a}
                bad = types if len(kinds) > 1 else []
            if bad:
                raise _eks_error(InvalidParameterException,
                                 f"[{', '.join(bad)}] is not a valid instance type for requested amiType {ami_type}",
                                 clusterName=self._get_param("name"), nodegroupName=self._get_param("nodegroupName"))
        return orig(self)

    EKS.create_nodegroup = create_nodegroup


# --------------------------------------------------------------------------------------------
# Secrets encryption with the stack's KMS key


def _eks_encryption_config():
    """moto 5.2 lacks AssociateEncryptionConfig (POST /clusters/{name}/encryption-config/associate,
    botocore eks): implemented in both modes as an EKS update of type AssociateEncryptionConfig.
    AWS refuses a second association: secrets encryption, once on, cannot be changed or removed
    (EKS User Guide, "Encrypt Kubernetes secrets with KMS on existing clusters": "you can't
    disable it" and the key cannot be changed), answered 400 InvalidRequestException (modelled
    on the pattern; moto has no such call to compare). With realism, CreateCluster and the
    association refuse a KMS key that is not Enabled (400 InvalidParameterException)."""

    def check_key(self, config, name):
        for c in config or []:
            reason = kms_refusal(self.current_account, self.region, (c.get("provider") or {}).get("keyArn"))
            if reason:
                raise _eks_error(InvalidParameterException, f"KMS key {reason}", clusterName=name)

    orig_create = EKS.create_cluster

    def create_cluster(self):
        check_key(self, self._get_param("encryptionConfig"), self._get_param("name"))
        return orig_create(self)

    def associate_encryption_config(self):
        name = self._get_param("name") or self._get_param("clusterName")
        cluster = _cluster(self, name)
        config = self._get_param("encryptionConfig") or []
        if cluster.encryption_config:
            raise _eks_error(InvalidRequestException,
                             "Encryption is already enabled on the cluster; it cannot be changed or removed",
                             clusterName=name)
        check_key(self, config, name)
        update = _start_update(cluster, "AssociateEncryptionConfig",
                               [("EncryptionConfig", json.dumps(config))],
                               lambda: setattr(cluster, "encryption_config", config), name)
        return ActionResult({"update": update})

    EKS.create_cluster = create_cluster
    EKS.associate_encryption_config = associate_encryption_config
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/encryption-config/associate$"] = eks_urls.response.dispatch


# --------------------------------------------------------------------------------------------


def _eks_insights():
    """AWS: ListInsights (POST /clusters/{name}/insights, botocore eks InsightSummary: id, name,
    category UPGRADE_READINESS, kubernetesVersion, insightStatus {status PASSING|WARNING|ERROR|
    UNKNOWN, reason}) lists the checks EKS ran against the cluster for the version it may go to
    next, among them "Kubelet version skew" (nodes behind the control plane) and deprecated APIs in
    use (EKS User Guide, "Prepare for Kubernetes version upgrades with cluster insights"). EKS
    computes most from the cluster's audit log, which the local cloud does not have: it lists the
    skew insight it can compute, and the insights a test gives it (knob `eks_insights`, a list of
    InsightSummary objects). moto: no insights."""

    def list_insights(self):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        body = json.loads(self.body or "{}")
        wanted = (body.get("filter") or {}).get("kubernetesVersions") or []
        statuses = (body.get("filter") or {}).get("statuses") or []
        nxt = f"1.{_minor(cluster.version) + 1}"
        behind = [n for n, ng in cluster.nodegroups.items() if str(ng.version) != str(cluster.version)]
        skew = {"id": "00000000-0000-4000-8000-00000000c0de", "name": "Kubelet version skew",
                "category": "UPGRADE_READINESS", "kubernetesVersion": nxt,
                "description": "Checks for kubelet versions of worker nodes in the cluster to see if upgrade would cause non compliance with supported Kubernetes kubelet version skew policy.",
                "insightStatus": {"status": "ERROR" if behind else "PASSING",
                                  "reason": f"Node groups behind the control plane: {', '.join(behind)}" if behind else "No issues found."}}
        out = [skew] + list(knob("eks_insights") or [])
        out = [i for i in out if (not wanted or i.get("kubernetesVersion") in wanted)
               and (not statuses or i["insightStatus"]["status"] in statuses)]
        return ActionResult({"insights": out})

    EKS.list_insights = list_insights
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/insights$"] = eks_urls.response.dispatch


def install():
    # always on
    patch_status(eks_models.Cluster, "eks::cluster", "CREATING", "ACTIVE")
    patch_status(eks_models.Nodegroup, "eks::nodegroup", "CREATING", "ACTIVE")
    count_reads(EKS, "describe_cluster", _eks_clusters)
    count_reads(EKS, "describe_nodegroup", _eks_nodegroups)
    _nodegroup_asg()
    _eks_cluster_security_group()
    _eks_nodegroup_tags()
    # realistic mode (and the APIs moto lacks). Each wrapper of EKSResponse.create_cluster runs its
    # check before the ones installed earlier, so CreateCluster checks: version, role, zones,
    # access config, then the KMS key.
    _eks_encryption_config()
    _eks_access_config()
    _eks_unsupported_zones()
    _eks_role_propagation()
    _eks_versions()  # also wraps EKSBackend.create_nodegroup, after _nodegroup_asg
    _status_while_updating()  # wraps the status properties of patch_status and describe_* of count_reads
    _eks_cluster_updates()
    _eks_nodegroup_updates()
    _eks_access_entries()
    _nodegroup_delete_failed()
    _nodegroup_architecture()
    _eks_insights()
