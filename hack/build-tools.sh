#!/usr/bin/env bash
# Builds the control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) and kwok from the Go modules pinned
# in hack/tools/, into bin/k8s/<version>/; `helm` (its own module,
# hack/tools/helm) goes to bin/helm-<HELM_VERSION>. setup-envtest downloads prebuilt
# binaries from a bucket that is unreachable here, so we build from source.
# Anything already built for that version is skipped.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
HELM_VERSION="${HELM_VERSION:-v4.3.2}"
dest="$root/bin/k8s/${K8S_VERSION}-etcd${ETCD_VERSION}-kwok${KWOK_VERSION}"
want="${*:-etcd kube-apiserver kube-controller-manager kube-scheduler kwok}"


export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath"

build() { # build <binary> <module dir> <package> [<output path>]
	local name="$1" dir="$2" pkg="$3" out="${4:-$dest/$1}"
	if [[ -x "$out" ]]; then return; fi
	mkdir -p "$(dirname "$out")"
	echo ">> building $name from $pkg (cached afterwards in ${out#"$root"/})" >&2
	local start=$SECONDS tmp
	tmp="$(mktemp -d)"
	(cd "$root/hack/tools/$dir" && go build -ldflags='-s -w' -o "$tmp/out" "$pkg")
	mv "$tmp/out" "$out"
	rm -rf "$tmp"
	echo ">> built $name in $((SECONDS - start))s" >&2
}

for b in $want; do
	case "$b" in
	etcd) build etcd kube go.etcd.io/etcd/server/v3 ;;
	kube-apiserver | kube-controller-manager | kube-scheduler)
		build "$b" kube "k8s.io/kubernetes/cmd/$b" ;;
	kwok) build kwok kwok sigs.k8s.io/kwok/cmd/kwok ;;
	kubectl) build kubectl kube k8s.io/kubernetes/cmd/kubectl ;;
	helm) build helm helm helm.sh/helm/v4/cmd/helm "$root/bin/helm-$HELM_VERSION" ;;
	*) echo "unknown binary $b" >&2; exit 2 ;;
	esac
done
# kubectl: the machine's when it has one (the e2e suite and the demo call it),
# else built from the same pinned Kubernetes module.
if [[ " $want " == *" kwok "* && ! -e "$dest/kubectl" ]]; then
	if command -v kubectl >/dev/null; then
		ln -sf "$(command -v kubectl)" "$dest/kubectl"
	else
		build kubectl kube k8s.io/kubernetes/cmd/kubectl
	fi
fi
echo "$dest"
