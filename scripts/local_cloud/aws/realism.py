"""Realistic mode's knobs. The behaviours themselves (real AWS's delays, propagation and validation
errors that moto 5.2.5 skips, each faithful to AWS's error codes and shapes) live in each service's
module beside its always-on fixes; this module holds the settings they read and serves them.

On by default; `EMPI_LOCAL_REALISM=0` turns it off at start. At runtime:

  curl -X POST -H 'Content-Type: application/json' http://127.0.0.1:5001/moto-api/empi/realism -d '{"alb_provisioning_seconds": 0}'
  curl http://127.0.0.1:5001/moto-api/empi/realism          # current settings

The POST body is a JSON object whose keys override the current settings (see SETTINGS); the
answer is the new settings. `"enabled": false` turns every behaviour off at runtime.

Evidence for each behaviour (botocore shapes, terraform-provider-aws files, AWS docs, issue
threads quoting real error bodies) is in the docstring of its function; docs/AWS-FIDELITY.md lists
each behaviour with the handling in empi-infra and its test.
"""
import json
import os
import threading
import time

from moto.moto_api import state_manager

# Knobs, overridable at runtime through POST /moto-api/empi/realism. Timings are short on
# purpose: tests run many applies. Real AWS takes minutes for each of these.
SETTINGS = {
    "enabled": os.environ.get("EMPI_LOCAL_REALISM", "1") != "0",
    "iam_propagation_seconds": 2.0,   # a new IAM role cannot be assumed by EKS before this
    "alb_provisioning_seconds": 2.0,  # ALB State.Code stays "provisioning" this long
    "waf_propagation_seconds": 4.0,   # WAF cannot see a new ALB this long after its creation
    "eks_update_seconds": 1.0,        # EKS updates stay InProgress this long
    # The same behaviours by count instead of by the clock, for tests that must meet each of them
    # however loaded the machine is (None: the seconds above rule):
    "iam_propagation_refusals": None,  # CreateCluster refuses a new role this many times
    "waf_propagation_refusals": None,  # AssociateWebACL refuses a new ALB this many times
    "eks_update_looks": None,          # an EKS update is InProgress for this many looks at it
    "eks_update_fails": False,        # one-shot: the next EKS update ends Failed
    "nodegroup_delete_fails": False,  # DeleteNodegroup leaves the group DELETE_FAILED
    "eks_cluster_seconds": 1.0,       # default eks::cluster transition (CREATING -> ACTIVE)
    "eks_nodegroup_seconds": 1.0,     # default eks::nodegroup transition (CREATING -> ACTIVE)
    "eks_addon_seconds": 1.0,         # an EKS add-on is CREATING (DELETING) this long
    # add-on versions beyond the local cloud's table, {name: {version: [Kubernetes versions it is listed for]}}
    "eks_addon_versions": {},
    "rds_instance_seconds": 1.0,      # default rds::dbinstance transition (creating -> available)
    "rds_snapshot_seconds": 1.0,      # default rds::dbsnapshot transition (creating -> available)
    "rds_backup_replication_seconds": 1.0,  # replicated automated backups are `pending` this long
    "rds_backup_replication_looks": None,   # ... or for this many reads of them (by count)
    "nat_seconds": 1.0,               # default ec2::nat_gateway transition (pending -> available)
    "eks_unsupported_zone_ids": ["use1-az3", "usw1-az2", "cac1-az3"],
    "eks_versions_as_of": None,       # "YYYY-MM-DD" to pin the date EKS version statuses use
    # versions EKS shipped after empi-infra's calendar was written, each {"1.37": "YYYY-MM-DD"}
    # (its release day): offered in standard support from then on, as EKS's calendar does
    "eks_new_versions": {},
    # upgrade insights EKS lists for a cluster beside the ones the local cloud computes (a list of
    # ListInsights InsightSummary objects)
    "eks_insights": [],
    # PostgreSQL versions RDS offers beyond the local cloud's table ({"16.11": "available"}),
    # or "deprecated" to retire one of the table's
    "rds_engine_versions": {},
    # extensions RDS does not offer for a family, {"postgres17": ["pg_trgm"]}
    "rds_missing_extensions": {},
    # DB instances that are real PostgreSQL servers of scripts/local_cloud/postgres.py, so that a
    # restore is PostgreSQL's point-in-time recovery: {"<id>": {"bin": DIR, "data": DATA}}
    "rds_postgres": {},
}
lock = threading.RLock()


def on():
    return bool(SETTINGS["enabled"])


def knob(name):
    return SETTINGS[name]


def still_young(obj, refusals_knob, seconds_knob):
    """Whether AWS would still refuse `obj` as too new: for its first `refusals_knob` refusals when
    that knob is set (a condition no machine's speed can miss), else for `seconds_knob` seconds
    after its creation (as AWS does, by the clock)."""
    created = obj.__dict__.get("_empi_created")
    if created is None:
        return False
    n = knob(refusals_knob)
    if n is not None:
        key = "_empi_refused_" + refusals_knob
        with lock:
            seen = obj.__dict__.get(key, 0)
            if seen < int(n):
                obj.__dict__[key] = seen + 1
                return True
        return False
    return time.monotonic() - created < float(knob(seconds_knob))


# --------------------------------------------------------------------------------------------
# settings endpoint and default transitions


def apply_default_transitions():
    """Realistic default transitions (tests still override them with set-transition)."""
    models = {
        "eks::cluster": "eks_cluster_seconds",
        "eks::nodegroup": "eks_nodegroup_seconds",
        "rds::dbinstance": "rds_instance_seconds",
        "rds::dbsnapshot": "rds_snapshot_seconds",
        "ec2::nat_gateway": "nat_seconds",
    }
    for model, key in models.items():
        if on() and float(knob(key)) > 0:
            t = {"progression": "time", "seconds": float(knob(key))}
        else:
            t = {"progression": "immediate"}
        state_manager.register_default_transition(model_name=model, transition=t)


def _settings_endpoint():
    """GET/POST /moto-api/empi/realism: read or override the knobs (JSON object)."""
    import moto.moto_api._internal.urls as api_urls

    def realism(request, full_url, headers):
        hdrs = {"Content-Type": "application/json"}
        if request.method == "POST":
            raw = request.data or b"{}"
            try:
                body = json.loads(raw)
                assert isinstance(body, dict)
            except Exception:
                return 400, hdrs, json.dumps({"message": "body must be a JSON object"})
            unknown = sorted(set(body) - set(SETTINGS))
            if unknown:
                return 400, hdrs, json.dumps({"message": f"unknown settings: {unknown}", "known": sorted(SETTINGS)})
            with lock:
                for k, v in body.items():
                    default = SETTINGS[k]
                    if isinstance(default, bool):
                        v = v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes", "on")
                    elif isinstance(default, float):
                        v = float(v)
                    SETTINGS[k] = v
                apply_default_transitions()
        return 200, hdrs, json.dumps(SETTINGS)

    api_urls.url_paths["{0}/moto-api/empi/realism$"] = realism


def install():
    """Serves the knobs (GET/POST /moto-api/empi/realism). apply_default_transitions runs after
    every service's install (see __init__.py)."""
    _settings_endpoint()
