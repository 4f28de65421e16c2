#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager v1.20.2 offline from Debian bookworm's
# `kubernetes` source package (no registry ships them), once; the binaries are cached in
# .local-cloud/kube/bin. Needs root for apt. ~3 min on 2 cores.
# Fixes the recipe needs (see shared notes): GOPATH mode, generated openapi, reflect2 1.0.2.
set -euo pipefail
cd "$(dirname "$0")/../.."
W=$PWD/.local-cloud/kube
# built binaries are also kept per machine, so that a fresh clone (CI) does not build again
CACHE=${EMPI_KUBE_CACHE:-$HOME/.cache/empi-infra/kube-1.20.2}
if [ -x "$W/bin/kube-apiserver" ] && [ -x "$W/bin/kube-controller-manager" ]; then
  exit 0
fi
if [ -x "$CACHE/kube-apiserver" ] && [ -x "$CACHE/kube-controller-manager" ]; then
  mkdir -p "$W/bin"
  cp "$CACHE/kube-apiserver" "$CACHE/kube-controller-manager" "$W/bin/"
  command -v etcd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; }
  exit 0
fi
mkdir -p "$W/src" "$W/bin" "$W/gopath/src/k8s.io"
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > /etc/apt/sources.list.d/empi-infra-debian-src.sources
fi
echo "local-cloud: building kube-apiserver 1.20.2 from Debian's source package (once, ~3 min)" >&2
apt_get update -qq
apt_get install -y -qq golang-go etcd-server golang-github-modern-go-reflect2-dev dpkg-dev >/dev/null
T0=$(date +%s)
cd "$W/src"
[ -d kubernetes-1.20.5+really1.20.2 ] || apt_get source -qq kubernetes >/dev/null 2>&1
K=$W/src/kubernetes-1.20.5+really1.20.2
ln -sfn "$K" "$W/gopath/src/k8s.io/kubernetes"
# 1) reflect2 1.0.1 (vendored) crashes with Go >= 1.18: use Debian's 1.0.2
rm -rf "$K/vendor/github.com/modern-go/reflect2"
cp -a /usr/share/gocode/src/github.com/modern-go/reflect2 "$K/vendor/github.com/modern-go/reflect2"
rm -f "$K/vendor/github.com/modern-go/reflect2/go.mod"
# 2) Kubernetes 1.20 builds in GOPATH mode
export GOPATH=$W/gopath GOCACHE=$W/gocache GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0
cd "$W/gopath/src/k8s.io/kubernetes"
# 3) the generated OpenAPI definitions are not in the tarball
if [ ! -f pkg/generated/openapi/zz_generated.openapi.go ]; then
  go build -o "$W/bin/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
  dirs=$(find -H . \( -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) \) -type f -name '*.go' \
    | sed 's|^./staging/src|vendor|' | sed 's|/[^/]*$||' | sed 's|^./||' | LC_ALL=C sort -u)
  tagfiles=$(for d in $dirs; do find "$d" -maxdepth 1 -type f -name '*.go'; done | xargs grep -l '^// *+k8s:' \
    | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/')
  inputs=$(grep -l '+k8s:openapi-gen=' $tagfiles | xargs -n1 dirname | LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  "$W/bin/openapi-gen" -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$W/openapi_violations.report"
fi
V=k8s.io/kubernetes/vendor/k8s.io
LDF="-s -w"
for p in client-go/pkg/version component-base/version; do
  LDF="$LDF -X $V/$p.gitVersion=v1.20.2 -X $V/$p.gitMajor=1 -X $V/$p.gitMinor=20 -X $V/$p.gitTreeState=clean -X $V/$p.buildDate=2021-01-13T00:00:00Z"
done
go build -ldflags "$LDF" -o "$W/bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
go build -ldflags "$LDF" -o "$W/bin/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager
mv "$W/bin/kube-apiserver.tmp" "$W/bin/kube-apiserver"
mv "$W/bin/kube-controller-manager.tmp" "$W/bin/kube-controller-manager"
mkdir -p "$CACHE" && cp "$W/bin/kube-apiserver" "$W/bin/kube-controller-manager" "$CACHE/"
# the build cache and sources are large; the binaries are all that is needed
rm -rf "$W/gocache" "$W/src" "$W/gopath" "$W/bin/openapi-gen"
echo "local-cloud: kube-apiserver and kube-controller-manager built in $(( $(date +%s) - T0 )) s" >&2
