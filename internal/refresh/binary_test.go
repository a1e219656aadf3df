package refresh

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"k8s.io/apimachinery/pkg/util/wait"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// runnerBinary builds cmd/refresh-runner once for the package.
func runnerBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "refresh-runner-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "refresh-runner")
		out, err := exec.Command("go", "build", "-o", binaryPath, "github.com/understudy-dev/understudy/cmd/refresh-runner").CombinedOutput()
		if err != nil {
			binaryErr = err
			t.Logf("%s", out)
		}
	})
	if binaryErr != nil {
		t.Fatalf("cannot build cmd/refresh-runner: %v", binaryErr)
	}
	return binaryPath
}

// runnerCmd prepares the binary with the credentials in TARGET_*, as the
// CronJob's pod gets them from Secrets.
func runnerCmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(runnerBinary(t), args...)
	cmd.Env = append(os.Environ(), srv.Env("TARGET")...)
	return cmd
}

func readResult(t *testing.T, path string) Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no termination message: %v", err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil || bytes.Count(b, []byte("\n")) != 1 {
		t.Fatalf("termination message is not one line of JSON: %q (%v)", b, err)
	}
	return res
}

func TestBinaryWritesTheResultToTheTerminationLog(t *testing.T) {
	t.Parallel()
	d := dumps(t)
	logPath := filepath.Join(t.TempDir(), "termination-log")
	cmd := runnerCmd(t, "--target-db", "bin_ok", "--backup-dir", d.dir, "--pattern", "src.c*",
		"--owner", "dev_owner", "--keep-previous", "1", "--jobs", "2", "--termination-log", logPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("runner failed: %v\n%s", err, stderr.String())
	}
	res := readResult(t, logPath)
	if res.Result != Succeeded || res.Target != "bin_ok" || res.Source != "src.custom" || res.DataTakenAt == nil || res.Bytes == 0 || res.DurationsMs["total"] == 0 {
		t.Errorf("result = %+v", res)
	}
	if file, _ := os.ReadFile(logPath); stdout.String() != string(file) {
		t.Errorf("stdout %q differs from the termination message %q", stdout.String(), file)
	}
	if strings.Contains(stderr.String()+stdout.String(), srv.Password) {
		t.Error("the password appears in the runner's output")
	}
	if !strings.Contains(stderr.String(), "msg=restoring") {
		t.Errorf("no progress on stderr: %s", stderr.String())
	}
	sameSums(t, "bin_ok", mustChecksums(t, "bin_ok"), d.sums)

	// A termination log that cannot be written is no failure.
	cmd = runnerCmd(t, "--target-db", "bin_ok", "--backup-dir", d.dir, "--pattern", "src.custom", "--termination-log", "/nonexistent/dir/log")
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), `"result":"Succeeded"`) {
		t.Errorf("with an unwritable termination log: %v %s", err, out)
	}
}

// bigDump dumps a database large enough that its restore takes a few
// seconds, so a runner can be stopped in the middle of it.
func bigDump(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := createDB("big_src", `CREATE TABLE big AS SELECT i, md5(i::text) AS h, repeat('x', 150) AS pad FROM generate_series(1, 250000) i;
		CREATE TABLE big2 AS SELECT * FROM big; CREATE INDEX ON big (h); CREATE INDEX ON big2 (h);`); err != nil {
		t.Fatal(err)
	}
	if err := pgDump("big_src", filepath.Join(dir, "big.dump"), "-Fc", "-Z0"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startAndStopMidRestore starts the runner on the big dump and sends sig
// once it is restoring; it returns the runner's exit error.
func startAndStopMidRestore(t *testing.T, target, backupDir, logPath string, sig syscall.Signal) error {
	t.Helper()
	cmd := runnerCmd(t, "--target-db", target, "--backup-dir", backupDir, "--pattern", "*.dump", "--termination-log", logPath)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	restoring := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			t.Log(sc.Text())
			if strings.Contains(sc.Text(), "msg=restoring") {
				once.Do(func() { close(restoring) })
			}
		}
	}()
	select {
	case <-restoring:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the runner never started restoring")
	}
	// Stop it once the restore has created its first table: past the start,
	// well before the end (the big dump's data and indexes take seconds).
	side := target + "_refresh"
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) { return tableExists(ctx, side, "big"), nil }); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("the runner never created a table in %s", side)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return cmd.Wait()
}

func TestKilledOrStoppedMidRestore(t *testing.T) {
	t.Parallel()
	bigDir := bigDump(t)
	small := dumps(t)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"sigkill", syscall.SIGKILL}, {"sigterm", syscall.SIGTERM}} {
		t.Run(tc.name, func(t *testing.T) {
			target := "stopped_" + tc.name
			mustRun(t, opts(t, target, "src.custom"))
			exec1(t, target, "UPDATE users SET email = 'changed@dev' WHERE id = 7")
			before := mustChecksums(t, target)
			logPath := filepath.Join(t.TempDir(), "log")
			err := startAndStopMidRestore(t, target, bigDir, logPath, tc.sig)
			if err == nil {
				t.Fatal("the runner succeeded although it was stopped")
			}
			sameSums(t, "target after the runner was stopped", mustChecksums(t, target), before)
			if tc.sig == syscall.SIGKILL && len(databases(t, target)) != 2 {
				t.Logf("no stale side database after SIGKILL (%v): the next run has nothing to clear", databases(t, target))
			}
			if tc.sig == syscall.SIGTERM {
				res := readResult(t, logPath)
				if res.Result != Failed || !strings.Contains(res.Error, "stopped") {
					t.Errorf("result after SIGTERM = %+v", res)
				}
				if got := databases(t, target); len(got) != 1 {
					t.Errorf("databases after SIGTERM: %v, want only the target", got)
				}
			}
			// The next run (of a small dump) clears whatever was left.
			out, err := runnerCmd(t, "--target-db", target, "--backup-dir", small.dir, "--pattern", "src.custom", "--keep-previous", "0", "--termination-log", "").CombinedOutput()
			if err != nil {
				t.Fatalf("the run after the stop failed: %v\n%s", err, out)
			}
			t.Logf("%s", out)
			if got := databases(t, target); len(got) != 1 {
				t.Errorf("databases after the next run: %v, want only the target", got)
			}
			sameSums(t, "target after the next run", mustChecksums(t, target), small.sums)
		})
	}
}

func TestBinaryFailsCleanlyWithoutCredentials(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command(runnerBinary(t), "--target-db", "x", "--backup-dir", "/", "--pattern", "*", "--termination-log", logPath)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Run(); err == nil {
		t.Fatal("runner succeeded without credentials")
	}
	if res := readResult(t, logPath); res.Result != Failed || !strings.Contains(res.Error, "TARGET_HOST") {
		t.Errorf("result = %+v", res)
	}
}

// tableExists tells whether db exists and holds table.
func tableExists(ctx context.Context, db, table string) bool {
	c, err := postgres.Connect(ctx, srv.Conn(db), "test")
	if err != nil {
		return false
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = $1 AND relkind = 'r'", table).Scan(&n)
	return err == nil && n > 0
}
