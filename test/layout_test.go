// Package layout_test checks that what ships never depends on the test rig:
// the binaries under cmd/ and every package under internal/, controllers/
// and api/ must not import anything below test/.
package layout_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/understudy-dev/understudy/test/testenv"
)

const module = "github.com/understudy-dev/understudy"

func TestShippedCodeDoesNotImportTheTestRig(t *testing.T) {
	shipped := []string{"./cmd/...", "./internal/...", "./controllers/...", "./api/..."}
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, shipped...)
	cmd := exec.Command("go", args...)
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list named only %d packages: %q", len(deps), deps)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, module+"/test/") || dep == module+"/test" {
			t.Errorf("shipped code depends on the test rig package %s", dep)
		}
	}
}
