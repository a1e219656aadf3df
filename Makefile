# understudy: build, generate, test, run.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Versions of the tools built from Go modules (hack/tools/*/go.mod pins them).
K8S_VERSION ?= 1.37.2
ETCD_VERSION ?= 3.7.3
KWOK_VERSION ?= 0.8.0
CONTROLLER_TOOLS_VERSION ?= v0.23.0
HELM_VERSION ?= v4.3.2
# SeaweedFS publishes no module versions; the pseudo-version the proxy serves.
SEAWEEDFS_VERSION ?= v0.0.0-20261109003541-7506e5f91cd6
PROMETHEUS_VERSION ?= v0.311.3

BIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(BIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
HELM ?= $(BIN)/helm-$(HELM_VERSION)
SEAWEEDFS ?= $(BIN)/seaweedfs-$(SEAWEEDFS_VERSION)/weed
ENVTEST_ASSETS ?= $(BIN)/k8s/$(K8S_VERSION)-etcd$(ETCD_VERSION)-kwok$(KWOK_VERSION)
IMG ?= understudy/manager:dev
RUNNER_IMG ?= understudy/refresh-runner:dev
KUBECTL ?= kubectl
GO_TEST_FLAGS ?= -count=1
export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS)
# The chart tests (test/helm, test/e2e) run this helm.
export HELM
# The S3 tests (test/s3test) start this SeaweedFS.
export SEAWEEDFS
# The metric-check tests (internal/analysis, controllers) start this Prometheus.
export PROMETHEUS_BIN ?= $(BIN)/prometheus-$(PROMETHEUS_VERSION)/prometheus

.PHONY: all
all: build

##@ General
.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=understudy-manager crd:generateEmbeddedObjectMeta=true webhook paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	go run ./hack/crdtrim config/crd/bases/*.yaml
	go run ./hack/chartgen

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: envtest
envtest: ## Build etcd and kube-apiserver for envtest into bin/ (once per version).
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) KWOK_VERSION=$(KWOK_VERSION) hack/build-tools.sh etcd kube-apiserver >/dev/null

.PHONY: cluster-tools
cluster-tools: ## Build every binary of the local cluster into bin/ (once per version).
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) KWOK_VERSION=$(KWOK_VERSION) hack/build-tools.sh >/dev/null

.PHONY: test
test: deps manifests generate fmt vet cluster-tools helm seaweedfs prometheus ## Unit, envtest, PostgreSQL and local-cluster suites.
	go test $(GO_TEST_FLAGS) ./...

.PHONY: bench
bench: envtest seaweedfs ## Benchmarks with ratios against baselines measured in the same run.
	go test -run '^$$' -bench '^Benchmark(Switch|DatabaseRefresh|RefreshS3|RefreshPgBackRest|WriteFreeze|RehearsedRelease|CutoverWindow)$$' -benchtime 1x -count=1 -timeout 150m ./test/bench/...

.PHONY: bench-cluster
bench-cluster: cluster-tools ## The switch at scale on the local cluster (kcm, scheduler, kwok nodes): BENCH_CLUSTER_SITES=100,300,1000,3000.
	go test -run '^$$' -bench '^BenchmarkSwitchCluster$$' -benchtime 1x -count=1 -timeout 180m ./test/bench/

##@ Build
.PHONY: build
build: generate fmt vet ## Build the binaries into bin/.
	go build -o $(BIN)/ ./cmd/...

.PHONY: plugin
plugin: ## Build the kubectl plugin into bin/kubectl-understudy (put bin/ on PATH: `kubectl understudy`).
	go build -o $(BIN)/kubectl-understudy ./cmd/kubectl-understudy

.PHONY: run
run: manifests generate ## Run the manager against the current kubeconfig.
	go run ./cmd/manager

.PHONY: docker-build
docker-build: ## Build the manager and refresh runner images (needs a container engine).
	docker build -t $(IMG) .
	docker build -t $(RUNNER_IMG) -f Dockerfile.runner .

##@ Deployment
.PHONY: install
install: manifests ## Install the CRDs into the current cluster.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the current cluster.
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator into the current cluster.
	$(KUBECTL) apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove the operator from the current cluster.
	$(KUBECTL) delete --ignore-not-found -k config/default

##@ Tools
.PHONY: deps
deps: ## Install the system packages the tests and the demo need (PostgreSQL), when missing.
	@hack/install-deps.sh
.PHONY: helm
helm: ## Build helm from its pinned module into bin/ (once per version).
	HELM_VERSION=$(HELM_VERSION) hack/build-tools.sh helm >/dev/null
.PHONY: seaweedfs
seaweedfs: ## Build SeaweedFS (the S3 server of the refresh tests) from its pinned module into bin/ (once per version).
	SEAWEEDFS_VERSION=$(SEAWEEDFS_VERSION) hack/build-tools.sh seaweedfs >/dev/null
.PHONY: prometheus
prometheus: ## Build the Prometheus server the metric-check tests start, into bin/ (once per version).
	PROMETHEUS_VERSION=$(PROMETHEUS_VERSION) hack/build-tools.sh prometheus >/dev/null
.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	mkdir -p $(BIN)
	cd hack/tools/gen && GOBIN= go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

include hack/local-cluster.mk
