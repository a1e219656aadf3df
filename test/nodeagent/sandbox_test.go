package nodeagent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A pod that mounts an emptyDir over the directory holding the agent's own
// files (the repo cloned under /tmp, an emptyDir at /tmp) still gets its other
// volumes: the agent does not hide host paths the pod needs.
func TestVolumeUnderAnotherVolumesMountPointIsMounted(t *testing.T) {
	if os.Getuid() != 0 {
		// Like every pod the agent runs: its sandbox is a mount namespace.
		t.Fatal("run as root (CI does): the node agent's pod sandbox needs mount namespaces")
	}
	tmp := t.TempDir()                                    // stands for /tmp, holding the clone
	podDir := filepath.Join(tmp, "clone", ".demo", "pod") // the agent's pod dir
	empty := filepath.Join(podDir, "volumes", "tmp")
	config := filepath.Join(podDir, "volumes", "config")
	for _, d := range []string{empty, config} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(config, "rules.sql"), []byte("UPDATE users SET email = NULL;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	configDst := t.TempDir() // stands for /sanitize
	script, err := sandboxScript([]mount{
		{src: empty, dst: tmp},
		{src: config, dst: configDst, readOnly: true},
	}, "pod", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("unshare", "--mount", "--uts", "--propagation", "private", "--",
		"/bin/sh", "-c", script, "sh", "sh", "-c", `cat "$0"/rules.sql; ls -A "$1"`, configDst, tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("pod did not start: %v\n%s", err, out)
	}
	if got := string(out); !strings.Contains(got, "UPDATE users") || strings.Contains(got, "clone") {
		t.Fatalf("pod sees %q; want the config file, and an empty /tmp", got)
	}
}
