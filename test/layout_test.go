// Package layout_test checks the import rules of the layout: what ships
// never depends on the test rig (the binaries under cmd/ and every package
// under internal/, controllers/ and api/ import nothing below test/), and
// the pure planners link no database driver, no database or runner code and
// no controller-runtime.
package layout_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/understudy-dev/understudy/test/testenv"
)

const module = "github.com/understudy-dev/understudy"

func TestShippedCodeDoesNotImportTheTestRig(t *testing.T) {
	deps := listDeps(t, "./cmd/...", "./internal/...", "./controllers/...", "./api/...")
	for _, dep := range deps {
		if strings.HasPrefix(dep, module+"/test/") || dep == module+"/test" {
			t.Errorf("shipped code depends on the test rig package %s", dep)
		}
	}
}

// TestPlannersArePureByTheirImports: the planners decide on what was
// observed and act on nothing, so they must not link what acts: the
// PostgreSQL driver, the database code (dbrelease), the refresh runner, or
// controller-runtime. The plain values they share with those live in
// internal/dbstate, internal/refreshwire and internal/pgquote.
func TestPlannersArePureByTheirImports(t *testing.T) {
	forbidden := []string{
		"github.com/jackc/",
		module + "/internal/dbrelease",
		module + "/internal/postgres",
		module + "/internal/refresh",
		"sigs.k8s.io/controller-runtime",
	}
	for _, planner := range []string{"./internal/bluegreen", "./internal/refreshjob", "./internal/masking"} {
		for _, dep := range listDeps(t, planner) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, strings.TrimSuffix(f, "/")+"/") {
					t.Errorf("the planner %s depends on %s", planner, dep)
				}
			}
		}
	}
}

// listDeps is `go list -deps` of pkgs (their tests not included).
func listDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(pkgs, " "), err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list %s named only %d packages: %q", strings.Join(pkgs, " "), len(deps), deps)
	}
	return deps
}
