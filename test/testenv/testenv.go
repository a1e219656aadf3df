// Package testenv starts a real kube-apiserver and etcd (controller-runtime's
// envtest) with understudy's CRDs installed from config/crd/bases, for the
// validation, controller and benchmark suites. The binaries come from
// KUBEBUILDER_ASSETS, which `make envtest` fills by building them from Go
// modules (see hack/build-tools.sh).
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Env is a running API server.
type Env struct {
	Config *rest.Config
	// Client talks to the API server directly, bypassing any cache.
	Client client.Client
	// KubeConfig is a kubeconfig file's content for processes started by tests.
	KubeConfig []byte
	env        *envtest.Environment
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func init() {
	if err := deployv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		panic(err)
	}
}

// Start starts etcd and kube-apiserver and installs the CRDs. It fails with a
// message that says what to run when the binaries are missing.
func Start() (*Env, error) { return start(true) }

// StartWithoutCRDs starts an API server that does not serve understudy's
// kinds until InstallCRDs: a cluster the manager starts in before its CRDs.
func StartWithoutCRDs() (*Env, error) { return start(false) }

// InstallCRDs creates the CRDs of config/crd/bases and waits until the API
// server serves them.
func (e *Env) InstallCRDs() error {
	_, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: []string{crdDir()}, ErrorIfPathMissing: true})
	return err
}

func crdDir() string { return filepath.Join(RepoRoot(), "config", "crd", "bases") }

func start(crds bool) (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds etcd and kube-apiserver into bin/ and points KUBEBUILDER_ASSETS at them")
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("cannot find %s in KUBEBUILDER_ASSETS=%s: run `make envtest`: %w", bin, assets, err)
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	if crds {
		env.CRDDirectoryPaths, env.ErrorIfCRDPathMissing = []string{crdDir()}, true
	}
	// Room for thousands of Services (benchmarks create two per site). The
	// addresses are only allocated, never dialled.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		// A failure after the control plane started (a CRD the API server
		// refuses) must not leave etcd and kube-apiserver running: they
		// would outlive the test holding its files and locks.
		_ = env.Stop()
		return nil, fmt.Errorf("cannot start envtest: %w", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("cannot create client: %w", err)
	}
	return &Env{Config: cfg, Client: c, KubeConfig: env.KubeConfig, env: env}, nil
}

// KubeconfigFile writes KubeConfig to a file in the test's temporary
// directory, for a process or a library that reads one, and returns its
// path.
func (e *Env) KubeconfigFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, e.KubeConfig, 0o600); err != nil {
		t.Fatalf("cannot write the kubeconfig: %v", err)
	}
	return path
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// Codecs decodes manifests with the kinds of this project registered.
var Codecs = serializer.NewCodecFactory(scheme.Scheme)
