package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/test/poll"
)

// signalHelper stands in for the demo: it starts a long-running child (as the
// demo starts PostgreSQL), prints its pid and stops it when SignalContext ends.
func signalHelper() {
	ctx, stop := SignalContext(context.Background())
	defer stop()
	child := exec.Command("sleep", "600")
	if err := child.Start(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	fmt.Println(child.Process.Pid)
	<-ctx.Done()
}

func TestMain(m *testing.M) {
	if os.Getenv("DEMO_SIGNAL_HELPER") == "1" {
		signalHelper()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Whichever way the demo ends — Ctrl-C, kill, or its terminal closing — what it
// started is stopped.
func TestEveryStopSignalStopsWhatWasStarted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "DEMO_SIGNAL_HELPER=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("helper said %q", line)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			poll.True(t, fmt.Sprintf("the process the demo started (pid %d) to end after %v", pid, sig), 20*time.Millisecond, 5*time.Second,
				func() bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) })
		})
	}
}
