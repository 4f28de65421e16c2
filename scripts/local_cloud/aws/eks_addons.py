"""EKS managed add-ons as EKS has them (src/aws/eks.rs `Addon` drives them); moto 5.2.5 has none.

Implemented in both modes: DescribeAddonVersions (GET /addons/supported-versions), CreateAddon,
DescribeAddon, ListAddons, UpdateAddon (an update DescribeUpdate serves with `addonName`) and
DeleteAddon; with realism off they settle at once and no check applies.

The versions: a table with EKS's shape, per Kubernetes minor of the local EKS calendar (eks.py
`eks_versions`): kube-proxy follows the cluster's minor and is listed for that minor only; coredns
and vpc-cni each have a version per minor, listed for a window of minors around it; exactly one
version per add-on and minor is the default (botocore eks Compatibility.defaultVersion). The knob
`eks_addon_versions` ({name: {version: [minors]}}) adds versions, each listed for those minors.

Realistic mode (realism.on()):
- a version not listed for the cluster's current Kubernetes version answers 400
  InvalidParameterException `Addon version specified is not supported` (terraform-provider-aws
  #32238, #33385, aws-sdk-go-v2#2554; aws-controllers-k8s/test-infra#1051 quotes it for a version
  not yet offered for the cluster's minor): an add-on update before the control plane's refuses
  the new minor's version;
- an add-on name EKS does not have answers 400 InvalidParameterException `Addon specified is not
  supported` (aws/containers-roadmap#1429);
- EKS installs vpc-cni, coredns and kube-proxy self-managed with every cluster (CreateCluster's
  bootstrapSelfManagedAddons defaults to true): a CreateAddon of one of them without
  resolveConflicts OVERWRITE ends CREATE_FAILED with the health issue ConfigurationConflict (EKS
  User Guide, "Create an Amazon EKS add-on": NONE fails where the self-managed one set a field;
  the message is the one terraform-provider-aws eks/addon.go quotes);
- an add-on is CREATING, UPDATING or DELETING for `eks_addon_seconds`, and takes one update at a
  time: another meanwhile answers 409 ResourceInUseException;
- a second CreateAddon of an add-on that exists answers 409 ResourceInUseException `Addon already
  exists.`.
"""
import copy
import time
from datetime import datetime, timezone

from moto.core.responses import ActionResult, EmptyResult
from moto.eks.exceptions import InvalidParameterException, ResourceInUseException, ResourceNotFoundException
from moto.moto_api._internal import mock_random as random

import moto.eks.urls as eks_urls

from .common import account_region, partition
from .eks import EKS, _cluster, _eks_error, _in_progress, _minor, _settle, _updates, eks_versions
from .realism import knob, lock, on

SELF_MANAGED = ("vpc-cni", "coredns", "kube-proxy")


class Addon:
    """One managed add-on of a cluster (the update machinery of eks.py keeps its updates in its
    __dict__, as it does for clusters and node groups)."""

    def __init__(self, cluster, name, version, tags, arn, fails_with=None):
        self.cluster, self.name, self.version, self.tags, self.arn = cluster, name, version, tags, arn
        self.created = datetime.now(timezone.utc)
        self.modified = self.created
        self.t0 = time.monotonic()
        self.phase = "CREATING"
        self.fails_with = fails_with

    def status(self):
        _settle(self)
        if self.phase in ("CREATING", "DELETING") and (not on() or time.monotonic() - self.t0 >= float(knob("eks_addon_seconds"))):
            if self.phase == "DELETING":
                addons(self.cluster).pop(self.name, None)
                return None
            self.phase = "CREATE_FAILED" if self.fails_with else "ACTIVE"
        if self.phase == "ACTIVE" and _in_progress(self) is not None:
            return "UPDATING"
        return self.phase

    def shown(self):
        status = self.status()
        issues = [self.fails_with] if self.phase == "CREATE_FAILED" and self.fails_with else []
        return {"addonName": self.name, "clusterName": self.cluster.name, "status": status or "DELETING",
                "addonVersion": self.version, "health": {"issues": issues}, "addonArn": self.arn,
                "createdAt": self.created, "modifiedAt": self.modified, "tags": self.tags}


def addons(cluster):
    return cluster.__dict__.setdefault("_empi_addons", {})


def find(cluster, name):
    a = addons(cluster).get(name)
    if a is not None and a.status() is None:
        return None
    return a


def table():
    """{name: {version: (minors listed, minor it is the default for or None)}}."""
    minors = sorted({_minor(v) for v in eks_versions()})
    out = {"vpc-cni": {}, "coredns": {}, "kube-proxy": {}}
    for m in minors:
        out["kube-proxy"][f"v1.{m}.0-eksbuild.1"] = ([m], None)
        out["kube-proxy"][f"v1.{m}.0-eksbuild.2"] = ([m], m)
        out["coredns"][f"v1.{m - 22}.1-eksbuild.1"] = ([m - 1, m, m + 1], m)
        out["vpc-cni"][f"v1.{m - 14}.0-eksbuild.1"] = ([m - 2, m - 1, m, m + 1], m)
    for name, versions in (knob("eks_addon_versions") or {}).items():
        for v, listed in versions.items():
            out.setdefault(name, {})[v] = ([_minor(x) for x in listed], None)
    return out


def listed_for(name, kubernetes_version):
    m = _minor(kubernetes_version)
    return [v for v, (ms, _) in table().get(name, {}).items() if m in ms]


def default_for(name, kubernetes_version):
    m = _minor(kubernetes_version)
    return next((v for v, (_, d) in table().get(name, {}).items() if d == m), None)


def _check_version(cluster, name, version):
    if name not in table():
        raise _eks_error(InvalidParameterException, "Addon specified is not supported",
                         clusterName=cluster.name, addonName=name)
    if on() and version not in listed_for(name, cluster.version):
        raise _eks_error(InvalidParameterException, "Addon version specified is not supported",
                         clusterName=cluster.name, addonName=name)


def _addon(self, cluster, name):
    a = find(cluster, name)
    if a is None:
        raise _eks_error(ResourceNotFoundException, f"No addon: {name} found in cluster: {cluster.name}",
                         clusterName=cluster.name, addonName=name)
    return a


def install():
    def describe_addon_versions(self):
        name = self._get_param("addonName")
        k8s = self._get_param("kubernetesVersion")
        out = []
        for addon_name, versions in sorted(table().items()):
            if name and addon_name != name:
                continue
            infos = []
            for v, (minors, default) in sorted(versions.items(), key=lambda kv: kv[0], reverse=True):
                compat = [{"clusterVersion": f"1.{m}", "platformVersions": ["*"], "defaultVersion": m == default}
                          for m in minors if not k8s or f"1.{m}" == k8s]
                if compat:
                    infos.append({"addonVersion": v, "architecture": ["amd64", "arm64"],
                                  "compatibilities": compat, "requiresConfiguration": False})
            if infos:
                out.append({"addonName": addon_name, "type": "networking", "addonVersions": infos,
                            "publisher": "eks", "owner": "aws"})
        return ActionResult({"addons": out})

    def create_addon(self):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        addon_name = self._get_param("addonName")
        version = self._get_param("addonVersion") or default_for(addon_name, cluster.version)
        _check_version(cluster, addon_name, version)
        with lock:
            if find(cluster, addon_name) is not None:
                raise _eks_error(ResourceInUseException, "Addon already exists.", clusterName=name, addonName=addon_name)
            self_managed = cluster.__dict__.setdefault("_empi_self_managed", set(SELF_MANAGED))
            fails = None
            if on() and addon_name in self_managed and self._get_param("resolveConflicts") != "OVERWRITE":
                fails = {"code": "ConfigurationConflict",
                         "message": "Conflicts found when trying to apply. Will not continue due to resolve conflicts mode. "
                                    f"Conflicts: the self-managed {addon_name} installed with the cluster sets fields of the same objects",
                         "resourceIds": []}
            else:
                self_managed.discard(addon_name)
            account, region = account_region(self)
            arn = f"arn:{partition(region)}:eks:{region}:{account}:addon/{name}/{addon_name}/{random.uuid4()}"
            a = Addon(cluster, addon_name, version, self._get_param("tags") or {}, arn, fails)
            addons(cluster)[addon_name] = a
            return ActionResult({"addon": a.shown()})

    def describe_addon(self):
        cluster = _cluster(self, self._get_param("name"))
        return ActionResult({"addon": _addon(self, cluster, self._get_param("addonName")).shown()})

    def list_addons(self):
        cluster = _cluster(self, self._get_param("name"))
        return ActionResult({"addons": sorted(n for n in list(addons(cluster)) if find(cluster, n) is not None)})

    def update_addon(self):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        addon_name = self._get_param("addonName")
        a = _addon(self, cluster, addon_name)
        version = self._get_param("addonVersion") or a.version
        _check_version(cluster, addon_name, version)
        with lock:
            busy = _in_progress(a)
            if busy is not None or (on() and a.status() not in ("ACTIVE", "DEGRADED", "UPDATE_FAILED")):
                raise _eks_error(ResourceInUseException,
                                 f"Cannot update addon {addon_name} because it currently has update "
                                 f"{busy['id'] if busy else a.status()} in progress", clusterName=name, addonName=addon_name)

            def apply():
                a.version = version
                a.modified = datetime.now(timezone.utc)

            update = {"id": str(random.uuid4()), "status": "InProgress", "type": "AddonUpdate",
                      "params": [{"type": "AddonVersion", "value": version},
                                 {"type": "ResolveConflicts", "value": self._get_param("resolveConflicts") or "NONE"}],
                      "createdAt": datetime.now(timezone.utc), "errors": []}
            _updates(a)[update["id"]] = {"update": update, "t0": time.monotonic(), "fail": False, "apply": apply,
                                         "resource": addon_name}
            _settle(a)
            return ActionResult({"update": copy.deepcopy(update)})

    def delete_addon(self):
        name = self._get_param("name")
        cluster = _cluster(self, name)
        a = _addon(self, cluster, self._get_param("addonName"))
        with lock:
            if on() and _in_progress(a) is not None:
                raise _eks_error(ResourceInUseException, f"Cannot delete addon {a.name} because it currently has an update in progress",
                                 clusterName=name, addonName=a.name)
            shown = a.shown()
            a.phase, a.t0 = "DELETING", time.monotonic()
            a.status()  # realism off: gone at once
            return ActionResult({"addon": {**shown, "status": "DELETING"}})

    for f in (describe_addon_versions, create_addon, describe_addon, list_addons, update_addon, delete_addon):
        setattr(EKS, f.__name__, f)
    eks_urls.url_paths["{0}/addons/supported-versions$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$"] = eks_urls.response.dispatch
    eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$"] = eks_urls.response.dispatch
