#!/usr/bin/env bash
# Builds the control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) and kwok from the Go modules pinned
# in hack/tools/, into bin/k8s/<version>/; `helm` (its own module,
# hack/tools/helm) goes to bin/helm-<HELM_VERSION>, `seaweedfs` (the S3 server
# the refresh tests start, hack/tools/seaweedfs) to
# bin/seaweedfs-<SEAWEEDFS_VERSION>/weed, and `prometheus` (the server the
# metric-check tests start, hack/tools/prometheus) to
# bin/prometheus-<PROMETHEUS_VERSION>/prometheus. setup-envtest downloads prebuilt
# binaries from a bucket that is unreachable here, so we build from source.
# Anything already built for that version is skipped.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
HELM_VERSION="${HELM_VERSION:-v4.3.2}"
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.311.3}"
dest="$root/bin/k8s/${K8S_VERSION}-etcd${ETCD_VERSION}-kwok${KWOK_VERSION}"
want="${*:-etcd kube-apiserver kube-controller-manager kube-scheduler kwok}"


export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath"

# Kubernetes binaries report the version they were built from (/version,
# `kubectl version`), as a release build stamps it; unstamped they say
# v0.0.0 and kubectl cannot judge the version skew.
kube_version_flags() {
	local minor="${K8S_VERSION#*.}"
	minor="${minor%%.*}"
	local pkg flags=""
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*} -X $pkg.gitMinor=$minor"
		flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	echo "$flags"
}

# stamped: a Kubernetes binary built for K8S_VERSION (an older build left
# unstamped, or a link to another kubectl, is built again).
stamped() {
	local out="$1" v
	case "$(basename "$out")" in
	kubectl) v="$("$out" version --client 2>/dev/null)" ;;
	*) v="$("$out" --version 2>/dev/null)" ;;
	esac
	[[ "$v" == *"v$K8S_VERSION"* ]]
}

build() { # build <binary> <module dir> <package> [<output path>] [<extra ldflags>]
	local name="$1" dir="$2" pkg="$3" out="${4:-$dest/$1}" ldflags="-s -w ${5:-}"
	if [[ -x "$out" ]] && { [[ -z "${5:-}" ]] || stamped "$out"; }; then return; fi
	mkdir -p "$(dirname "$out")"
	echo ">> building $name from $pkg (cached afterwards in ${out#"$root"/})" >&2
	local start=$SECONDS tmp
	tmp="$(mktemp -d)"
	(cd "$root/hack/tools/$dir" && go build -ldflags="$ldflags" -o "$tmp/out" "$pkg")
	mv "$tmp/out" "$out"
	rm -rf "$tmp"
	echo ">> built $name in $((SECONDS - start))s" >&2
}

for b in $want; do
	case "$b" in
	etcd) build etcd kube go.etcd.io/etcd/server/v3 ;;
	kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
		build "$b" kube "k8s.io/kubernetes/cmd/$b" "$dest/$b" "$(kube_version_flags)" ;;
	kwok) build kwok kwok sigs.k8s.io/kwok/cmd/kwok ;;
	helm) build helm helm helm.sh/helm/v4/cmd/helm "$root/bin/helm-$HELM_VERSION" ;;
	seaweedfs) build weed seaweedfs github.com/seaweedfs/seaweedfs/weed "$root/bin/seaweedfs-$SEAWEEDFS_VERSION/weed" ;;
	# remove_all_sd: the tests scrape static targets on loopback; leaving out
	# the cloud service discoveries halves the build.
	prometheus) GOFLAGS="$GOFLAGS -tags=remove_all_sd" build prometheus prometheus \
		github.com/prometheus/prometheus/cmd/prometheus "$root/bin/prometheus-$PROMETHEUS_VERSION/prometheus" ;;
	*) echo "unknown binary $b" >&2; exit 2 ;;
	esac
done
# kubectl: the demo and the e2e suite call it; always the one pinned with
# the cluster (a machine's own kubectl may be outside the supported skew).
if [[ " $want " == *" kwok "* ]]; then
	build kubectl kube k8s.io/kubernetes/cmd/kubectl "$dest/kubectl" "$(kube_version_flags)"
fi
echo "$dest"
