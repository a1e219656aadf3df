// Package proctest holds what the test servers started as processes
// (pgtest's PostgreSQL, s3test's SeaweedFS) share: reading the tail of a
// server's log for a failure message, and stopping it gently, then for sure.
package proctest

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Tail returns the last max bytes of the file at path ("" if unreadable).
func Tail(path string, max int) string {
	b, _ := os.ReadFile(path)
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// Stop sends sig to the process, waits up to grace for it to exit (done
// receives cmd.Wait's result), then kills its whole process group. The
// process must have been started with Setpgid.
func Stop(cmd *exec.Cmd, done <-chan error, sig syscall.Signal, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}
