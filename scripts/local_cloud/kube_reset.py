"""Empties a pooled test cluster (scripts/local_cloud/kube-pool.sh) for its next test: deletes every
namespace but Kubernetes' own, and everything a stack or a test made in `default`, then waits until
they are gone, so the next test finds the cluster as a fresh one. A test's end runs it in the
background with the pool's lease as its stdin (the lock is its own until it exits); the next test
runs it again, which only lists when the cluster is empty.

Usage: kube_reset.py CLUSTER_DIR [DEADLINE_SECONDS]   (reads DIR/kubeconfig's server, DIR/token,
DIR/ca.crt). Exit 0 when the cluster is clean; 1 with one sentence on stderr when it is not by the
deadline (the test then starts a cluster of its own)."""
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.request

d = sys.argv[1]
deadline = time.monotonic() + float(sys.argv[2] if len(sys.argv) > 2 else 90)
server = re.search(r"server: (\S+)", open(f"{d}/kubeconfig").read()).group(1)
token = open(f"{d}/token").read().strip()
ctx = ssl.create_default_context(cafile=f"{d}/ca.crt")

SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
# what a stack or a test can make in `default` (the k8s job runner's namespace on versions that
# cannot name one): made by a stack, it carries the stack label; jobs and pods are never
# Kubernetes' own there
IN_DEFAULT = [
    ("/apis/batch/v1", "jobs", None),
    ("/apis/apps/v1", "deployments", None),
    ("/apis/apps/v1", "replicasets", None),
    ("/api/v1", "pods", None),
    ("/apis/rbac.authorization.k8s.io/v1", "roles", "empi-infra/stack"),
    ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", "empi-infra/stack"),
    ("/api/v1", "serviceaccounts", "empi-infra/stack"),
    ("/api/v1", "configmaps", "empi-infra/stack"),
    ("/api/v1", "secrets", "empi-infra/stack"),
    ("/api/v1", "services", "empi-infra/stack"),
]


def call(method, path):
    req = urllib.request.Request(server + path, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if method == "DELETE":
        req.add_header("Content-Type", "application/json")
        req.data = json.dumps({"propagationPolicy": "Background", "gracePeriodSeconds": 0}).encode()
    with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
        return json.loads(r.read() or b"{}")


def leftovers():
    left = [
        f"namespace {n['metadata']['name']}"
        for n in call("GET", "/api/v1/namespaces")["items"]
        if n["metadata"]["name"] not in SYSTEM_NAMESPACES
    ]
    for group, kind, label in IN_DEFAULT:
        query = f"?labelSelector={label}" if label else ""
        for item in call("GET", f"{group}/namespaces/default/{kind}{query}")["items"]:
            left.append(f"{kind} default/{item['metadata']['name']}")
    return left


def delete_all():
    for n in call("GET", "/api/v1/namespaces")["items"]:
        name = n["metadata"]["name"]
        if name not in SYSTEM_NAMESPACES and not n["metadata"].get("deletionTimestamp"):
            try:
                call("DELETE", f"/api/v1/namespaces/{name}")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
    for group, kind, label in IN_DEFAULT:
        query = f"?labelSelector={label}" if label else ""
        call("DELETE", f"{group}/namespaces/default/{kind}{query}")


last = None
while True:
    try:
        left = leftovers()
        if not left:
            sys.exit(0)
        delete_all()
        last = ", ".join(left[:5])
    except (urllib.error.URLError, OSError, ValueError) as e:
        last = f"the API server did not answer ({e})"
    if time.monotonic() > deadline:
        print(f"the pooled cluster in {d} is not empty after the deadline: {last}", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.2)
