package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

const repoRoot = "../.."

// TestChartMatchesConfig fails when the chart's CRDs or RBAC rules differ
// from config/: someone edited the chart by hand, or changed config/ and did
// not run `make manifests`.
func TestChartMatchesConfig(t *testing.T) {
	want, err := Generate(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for path, content := range want {
		got, err := os.ReadFile(filepath.Join(repoRoot, path))
		if err != nil {
			t.Errorf("%s is missing: run `make manifests` (%v)", path, err)
			continue
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s differs from what hack/chartgen makes of config/: run `make manifests`", path)
		}
	}
	onDisk, err := filepath.Glob(filepath.Join(repoRoot, chartDir, "templates/crds/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range onDisk {
		if _, ok := want[relTo(repoRoot, p)]; !ok {
			t.Errorf("%s has no CRD in config/crd/bases: run `make manifests`", relTo(repoRoot, p))
		}
	}
}

func TestWrapCRDEscapesTemplateDelimiters(t *testing.T) {
	crd := "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n    a: b\n  name: x\nspec:\n  message: 'use {{ name }}'\n"
	out, err := wrapCRD("x.yaml", []byte(crd))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`use {{ "{{" }} name }}`)) {
		t.Errorf("delimiters not escaped:\n%s", out)
	}
	if _, err := wrapCRD("x.yaml", []byte("kind: CustomResourceDefinition\n")); err == nil {
		t.Error("a CRD without controller-gen's metadata block was wrapped without error")
	}
}
