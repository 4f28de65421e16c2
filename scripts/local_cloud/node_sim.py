"""A stand-in for kubelets in the local cloud: the control plane has no nodes, so this marks
Deployment pods Running and Ready, and Job pods Succeeded, through the API (pod status).
Tests that need control (a failing migrate) do not run it and play the node themselves.

Usage: node_sim.py KUBECONFIG_DIR     (reads DIR/kubeconfig's server, DIR/token, DIR/ca.crt)"""
import json
import re
import ssl
import sys
import time
import urllib.request

d = sys.argv[1]
server = re.search(r"server: (\S+)", open(f"{d}/kubeconfig").read()).group(1)
token = open(f"{d}/token").read().strip()
ctx = ssl.create_default_context(cafile=f"{d}/ca.crt")


def call(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(server + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions", []))


while True:
    try:
        for pod in call("GET", "/api/v1/pods")["items"]:
            meta, status = pod["metadata"], pod.get("status", {})
            if meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
                continue
            owners = [o.get("kind") for o in meta.get("ownerReferences", [])]
            names = [c["name"] for c in pod["spec"]["containers"]]
            t = now()
            if "Job" in owners:
                patch = {"status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": t}],
                                    "containerStatuses": [{"name": n, "ready": False, "restartCount": 0, "image": "", "imageID": "",
                                                           "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": t, "finishedAt": t}}} for n in names]}}
            elif not ready(pod):
                patch = {"status": {"phase": "Running", "conditions": [{"type": c, "status": "True", "lastTransitionTime": t} for c in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                                    "containerStatuses": [{"name": n, "ready": True, "restartCount": 0, "image": "", "imageID": "", "started": True,
                                                           "state": {"running": {"startedAt": t}}} for n in names]}}
            else:
                continue
            call("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", patch, "application/merge-patch+json")
    except Exception as e:  # the API restarting, a pod deleted meanwhile: try again
        print(f"node_sim: {e}", file=sys.stderr, flush=True)
    time.sleep(0.3)
