package localcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Pinned versions of the control plane, matching the Makefile and
// hack/build-tools.sh: the binaries live in bin/k8s/<AssetsVersion>/.
const AssetsVersion = "1.37.2-etcd3.7.3-kwok0.8.0"

// Binaries the cluster needs from the assets directory.
var requiredBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// FindAssets returns the directory holding the control-plane binaries:
// $LOCALCLUSTER_ASSETS, else $KUBEBUILDER_ASSETS, else bin/k8s/<AssetsVersion>
// in the module root found by walking up from the working directory. It fails
// with a message naming `make cluster-tools` when a binary is missing, so a
// test never skips silently.
func FindAssets() (string, error) {
	var candidates []string
	for _, env := range []string{"LOCALCLUSTER_ASSETS", "KUBEBUILDER_ASSETS"} {
		if d := os.Getenv(env); d != "" {
			candidates = append(candidates, d)
		}
	}
	if root, err := moduleRoot(); err == nil {
		candidates = append(candidates, filepath.Join(root, "bin", "k8s", AssetsVersion))
	}
	if len(candidates) == 0 {
		return "", errors.New("cannot find the control-plane binaries: set LOCALCLUSTER_ASSETS or run from the module and `make cluster-tools`")
	}
	var missing error
	for _, dir := range candidates {
		if missing = checkBinaries(dir); missing == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w: build them with `make cluster-tools`", missing)
}

func checkBinaries(dir string) error {
	for _, b := range requiredBinaries {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("control-plane binary %s missing from %s", b, dir)
		}
	}
	return nil
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ModuleRoot is the directory of the module's go.mod above the working directory.
func ModuleRoot() (string, error) { return moduleRoot() }
