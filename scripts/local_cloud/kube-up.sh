#!/usr/bin/env bash
# Starts a real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver 1.20.2 and
# kube-controller-manager (no kubelet, no scheduler: tests and the node simulator play the node).
#   kube-up.sh DIR ETCD_PORT API_PORT    → DIR/kubeconfig, DIR/pids; returns when the API is ready
#   kube-up.sh --down DIR                → stops what DIR/pids names (apiserver before etcd)
# Binaries: .local-cloud/kube/bin (scripts/local_cloud/build-kube.sh) and Debian's etcd.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/.local-cloud/kube/bin

if [ "${1:-}" = "--down" ]; then
  D=$2
  [ -f "$D/pids" ] || exit 0
  # controller-manager and apiserver first, etcd last
  for pid in $(tac "$D/pids"); do kill "$pid" 2>/dev/null || true; done
  alive_pids() { for pid in $(cat "$D/pids"); do kill -0 "$pid" 2>/dev/null && echo "$pid"; done; return 0; }
  # up to 20 s for a clean stop (etcd syncs its data), then SIGKILL; the pid file goes only once
  # every process is gone, so a later `down` or `up` never forgets one still running
  # deadlines by the clock, not by counted sleeps (which stretch on a loaded machine)
  stop_by=$((SECONDS + 20))
  while [ $SECONDS -lt $stop_by ]; do
    [ -z "$(alive_pids)" ] && break
    sleep 0.1
  done
  left=$(alive_pids)
  if [ -n "$left" ]; then
    echo "kube-up: $(echo $left | wc -w) process(es) still running after 20 s: killing $left" >&2
    kill -9 $left 2>/dev/null || true
    kill_by=$((SECONDS + 5))
    while [ $SECONDS -lt $kill_by ]; do [ -z "$(alive_pids)" ] && break; sleep 0.1; done
  fi
  left=$(alive_pids)
  if [ -n "$left" ]; then
    echo "kube-up: could not stop $left; $D/pids keeps them" >&2
    exit 1
  fi
  rm -f "$D/pids"
  exit 0
fi

D=$1; EP=$2; AP=$3
mkdir -p "$D"
D=$(cd "$D" && pwd)
[ -x "$BIN/kube-apiserver" ] || { echo "kube-apiserver is not built: run scripts/local_cloud/build-kube.sh" >&2; exit 1; }
command -v etcd >/dev/null || { echo "etcd is missing: apt-get install etcd-server" >&2; exit 1; }

if [ ! -f "$D/ca.crt" ]; then
  (
    cd "$D"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=empi-local-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n' > san.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile san.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > token
    echo "$(cat token),admin,admin,system:masters" > tokens.csv
  )
fi
TOKEN=$(cat "$D/token")
CA=$(base64 -w0 < "$D/ca.crt")
cat > "$D/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$AP
    certificate-authority-data: $CA
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC

: > "$D/pids"
# a fresh cluster every time, like the fresh moto beside it (no objects of an earlier run)
rm -rf "$D/etcd"
etcd --name default --data-dir "$D/etcd" \
  --listen-client-urls "http://127.0.0.1:$EP" --advertise-client-urls "http://127.0.0.1:$EP" \
  --listen-peer-urls "http://127.0.0.1:$((EP + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((EP + 1))" \
  --initial-cluster "default=http://127.0.0.1:$((EP + 1))" >"$D/etcd.log" 2>&1 &
echo $! >> "$D/pids"
"$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$EP" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$AP" --insecure-port 0 \
  --tls-cert-file "$D/apiserver.crt" --tls-private-key-file "$D/apiserver.key" --client-ca-file "$D/ca.crt" \
  --token-auth-file "$D/tokens.csv" --authorization-mode RBAC \
  --service-account-key-file "$D/sa.pub" --service-account-signing-key-file "$D/sa.key" \
  --service-account-issuer https://kubernetes.default.svc --api-audiences https://kubernetes.default.svc \
  --disable-admission-plugins ServiceAccount --service-cluster-ip-range 10.96.0.0/16 \
  --allow-privileged=true >"$D/apiserver.log" 2>&1 &
echo $! >> "$D/pids"

# ready when /readyz answers and namespace `default` exists; up to 90 s (several test clusters may
# start at once on two cores); a server that died (a port taken meanwhile) fails at once
ok=0
apiserver=$(tail -n 1 "$D/pids")
deadline=$((SECONDS + 90))
while [ $SECONDS -lt $deadline ]; do
  if curl -fsk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$AP/readyz" >/dev/null 2>&1 \
     && curl -fsk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$AP/api/v1/namespaces/default" >/dev/null 2>&1; then
    ok=1; break
  fi
  kill -0 "$apiserver" 2>/dev/null || break
  sleep 0.1
done
if [ $ok != 1 ]; then
  echo "kube-apiserver did not become ready; the end of $D/apiserver.log:" >&2
  tail -n 5 "$D/apiserver.log" >&2 || true
  for pid in $(tac "$D/pids"); do kill "$pid" 2>/dev/null || true; done
  exit 1
fi

"$BIN/kube-controller-manager" --kubeconfig "$D/kubeconfig" \
  --service-account-private-key-file "$D/sa.key" --root-ca-file "$D/ca.crt" \
  --leader-elect=false --use-service-account-credentials=false --port 0 --secure-port 0 \
  --controllers '*,-nodeipam,-nodelifecycle,-ttl,-cloud-node-lifecycle,-route,-service' >"$D/controller-manager.log" 2>&1 &
echo $! >> "$D/pids"
