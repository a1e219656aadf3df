package demo

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/understudy-dev/understudy/test/testenv"
)

// The docs name the demo's DatabaseRefresh the way the demo creates it, so a
// reader can paste their commands into the running demo.
func TestDocsNameTheDemosDatabaseRefresh(t *testing.T) {
	var b strings.Builder
	printInstructions(&b, instructions{})
	if !strings.Contains(b.String(), "service0-dev-refresh") {
		t.Fatalf("the demo no longer prints service0-dev-refresh:\n%s", b.String())
	}
	root := testenv.RepoRoot()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"))
	named := regexp.MustCompile(`(?:dbr|refresh now|refresh status|metadata: {name:)\s+(service0-dev-[a-z]+)`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllStringSubmatch(string(data), -1) {
			if name := m[1]; name != "service0-dev-refresh" {
				t.Errorf("%s names %s; the demo's DatabaseRefresh is service0-dev-refresh", filepath.Base(f), name)
			}
		}
	}
}

// The README and the build step `make demo` runs give the same first-build time.
func TestFirstBuildTimeAgrees(t *testing.T) {
	root := testenv.RepoRoot()
	for _, f := range []string{"README.md", filepath.Join("hack", "local-cluster.mk")} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "fifteen minutes") {
			t.Errorf("%s does not say the first build takes about fifteen minutes", f)
		}
		if regexp.MustCompile(`~?\b10 min|ten minutes`).Match(data) {
			t.Errorf("%s still says ten minutes", f)
		}
	}
}

// `kubectl get all` (and `kubectl get understudy`) list both kinds.
func TestKindsAreInCategoryAll(t *testing.T) {
	for _, f := range []string{"deploy.understudy.dev_sitedeployments.yaml", "deploy.understudy.dev_databaserefreshes.yaml"} {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", f))
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Spec struct {
				Names struct {
					Categories []string `json:"categories"`
				} `json:"names"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(crd.Spec.Names.Categories, ",")
		if got != "all,understudy" {
			t.Errorf("%s: categories %q, want all,understudy", f, got)
		}
	}
}
