#!/usr/bin/env bash
# A pool of Kubernetes control planes for the test suite, so that tests need not each start one
# (a kube-apiserver costs about five CPU-seconds to start; docs/TESTING.md has the figures).
#   kube-pool.sh up DIR N     → DIR/0 … DIR/N-1, each a cluster as kube-up.sh makes it
#   kube-pool.sh down DIR     → stops them all
# A test takes a cluster by holding an exclusive flock(2) on DIR/I/lease (the kernel lets it go
# when the test's process ends, however it ends). When the test is done, kube_reset.py empties the
# cluster holding the same lock: no namespace but Kubernetes' own, nothing of a stack in
# `default`; the next test checks it is empty (tests/it/common/cluster.rs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case "${1:-}" in
  up)
    D=$2; N=$3
    mkdir -p "$D"
    pids=()
    free_ports() { # etcd needs two ports in a row; the API server one more
      python3 - <<'PY'
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    if p >= 65000:
        continue
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1))
    except OSError:
        continue
    c = socket.socket(); c.bind(("127.0.0.1", 0))
    print(p, c.getsockname()[1])
    break
PY
    }
    for i in $(seq 0 $((N - 1))); do
      # three tries, on fresh ports, as a test's own cluster has: on a loaded machine a port can be
      # taken meanwhile, or the API server give up on an etcd still starting
      (
        for try in 1 2 3; do
          read -r etcd api < <(free_ports)
          if "$ROOT/scripts/local_cloud/kube-up.sh" "$D/$i" "$etcd" "$api" >"$D/$i.up.log" 2>&1; then exit 0; fi
          rm -rf "${D:?}/$i"
        done
        exit 1
      ) &
      pids+=($!)
    done
    failed=0
    for i in "${!pids[@]}"; do
      if ! wait "${pids[$i]}"; then
        echo "kube-pool: cluster $i did not start: $(tail -n 3 "$D/$i.up.log")" >&2
        rm -rf "${D:?}/$i"
        failed=$((failed + 1))
      fi
    done
    echo "kube-pool: $((N - failed)) of $N clusters ready in $D"
    ;;
  down)
    D=$2
    for pids in "$D"/*/pids; do
      [ -f "$pids" ] || continue
      # throwaway clusters (etcd in DIR): killed, not stopped cleanly
      for pid in $(cat "$pids"); do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
    done
    ;;
  *)
    echo "usage: kube-pool.sh up DIR N | down DIR" >&2
    exit 2
    ;;
esac
