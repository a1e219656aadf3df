// Package helm runs the chart charts/understudy through the helm binary that
// `make helm` builds from its pinned module, and decodes what it renders, for
// the chart tests here and the e2e suite.
package helm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Release and Namespace are the names the README installs the chart with.
const (
	Release   = "understudy"
	Namespace = "understudy-system"
)

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ChartDir is the chart's directory.
func ChartDir() string { return filepath.Join(RepoRoot(), "charts", "understudy") }

// Binary is $HELM (the Makefile exports it), else bin/helm-<HELM_VERSION>
// with the version the Makefile pins. A missing binary is an error that says
// to run `make helm`, so that no test skips.
func Binary() (string, error) {
	if h := os.Getenv("HELM"); h != "" {
		return h, nil
	}
	mk, err := os.ReadFile(filepath.Join(RepoRoot(), "Makefile"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^HELM_VERSION \?= (\S+)$`).FindSubmatch(mk)
	if m == nil {
		return "", errors.New("no HELM_VERSION in the Makefile")
	}
	bin := filepath.Join(RepoRoot(), "bin", "helm-"+string(m[1]))
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no helm at %s: run `make helm`", bin)
	}
	return bin, nil
}

// Run runs helm with args and values (YAML; none when empty) given as a
// values file, and returns its standard output.
func Run(values string, args ...string) ([]byte, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "helm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if values != "" {
		vf := filepath.Join(dir, "values.yaml")
		if err := os.WriteFile(vf, []byte(values), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--values", vf)
	}
	cmd := exec.Command(bin, args...)
	// helm keeps its cache and config in these: keep them out of $HOME.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+dir, "HELM_CONFIG_HOME="+dir, "HELM_DATA_HOME="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %v: %w: %s%s", args, err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

// Lint runs `helm lint --strict` on the chart with values.
func Lint(values string) ([]byte, error) {
	return Run(values, "lint", "--strict", ChartDir())
}

// Template renders the chart as `helm install understudy -n
// understudy-system` would, with values, and decodes the objects.
func Template(values string) (Objects, error) {
	out, err := Render(Namespace, values)
	if err != nil {
		return nil, err
	}
	return Decode(out)
}

// Render renders the chart as release understudy in namespace, with values,
// and returns the manifests helm printed.
func Render(namespace, values string) ([]byte, error) {
	return Run(values, "template", Release, ChartDir(), "--namespace", namespace)
}

// Objects are rendered objects in the order helm printed them.
type Objects []unstructured.Unstructured

// Decode reads a multi-document YAML stream.
func Decode(b []byte) (Objects, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs Objects
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// Kind returns the objects of a kind.
func (o Objects) Kind(kind string) Objects {
	var out Objects
	for _, u := range o {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}
