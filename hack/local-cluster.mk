# Local cluster targets, meant to be included by the Makefile
# (`include hack/local-cluster.mk` after the Tools section); they reuse its
# BIN, ENVTEST_ASSETS and cluster-tools. No container runtime is needed: the
# node agent runs every pod as local processes on loopback addresses.

DEMO_DIR ?= .demo
E2E_TIMEOUT ?= 20m
# The e2e state (cluster, pods, PostgreSQL, backups) lives outside /tmp: the
# node agent bind-mounts a pod's emptyDir at /tmp (the refresh runner has
# one), which would hide every host path under /tmp inside that pod.
E2E_TMPDIR ?= /var/tmp

##@ Local cluster
.PHONY: test-e2e
test-e2e: deps cluster-tools helm seaweedfs prometheus ## End-to-end tests on a local cluster (control plane + node agent), stopped at the end.
	PATH="$(ENVTEST_ASSETS):$$PATH" TMPDIR=$(E2E_TMPDIR) LOCALCLUSTER_ASSETS=$(ENVTEST_ASSETS) go test -tags e2e ./test/e2e/ -count=1 -v -timeout $(E2E_TIMEOUT)

.PHONY: demo
demo: deps ## The operator on a local cluster with PostgreSQL and config/samples/demo, until Ctrl-C.
	@echo "==> cluster tools (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, kubectl) in $(ENVTEST_ASSETS): built once, about fifteen minutes the first time on two cores"
	@$(MAKE) --no-print-directory cluster-tools
	@echo "==> SeaweedFS (the demo's S3 bucket) in bin/: built once from its module, a few minutes the first time"
	@$(MAKE) --no-print-directory seaweedfs
	@echo "==> building localcluster, manager, demo-site, refresh-runner into $(BIN)/"
	go build -o $(BIN)/ ./test/cmd/localcluster ./cmd/manager ./test/cmd/demo-site ./cmd/refresh-runner
	$(BIN)/localcluster demo --dir $(DEMO_DIR) --image-bin $(BIN) --assets $(ENVTEST_ASSETS)
