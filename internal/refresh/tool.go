package refresh

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// tool runs a PostgreSQL program against c, with the password in its
// environment only. Its messages go to Options.Stderr, and the last of
// them into the returned error.
func (r *run) tool(ctx context.Context, name string, c postgres.Conn, stdout io.Writer, stdin io.Reader, args ...string) error {
	return r.toolAs(ctx, name, c, "", stdout, stdin, args...)
}

// toolAs is tool with the session's role set to role at connection start
// (PGOPTIONS), so whatever it creates is owned by role.
func (r *run) toolAs(ctx context.Context, name string, c postgres.Conn, role string, stdout io.Writer, stdin io.Reader, args ...string) error {
	return r.toolWith(ctx, name, c, role, nil, stdout, stdin, args...)
}

// toolWith is toolAs with extra server settings for the sessions.
func (r *run) toolWith(ctx context.Context, name string, c postgres.Conn, role string, settings []string, stdout io.Writer, stdin io.Reader, args ...string) error {
	cmd, err := postgres.Command(ctx, name, c, r.o.Env, Tool, args...)
	if err != nil {
		return err
	}
	if role != "" {
		settings = append(settings, "role="+pgOptionValue(role))
	}
	if len(settings) > 0 {
		cmd.Env = append(cmd.Env, "PGOPTIONS=-c "+strings.Join(settings, " -c "))
	}
	return r.runCmd(ctx, name, cmd, stdout, stdin)
}

// runCmd runs a prepared program with its messages going to
// Options.Stderr, and the last of them into the returned error.
func (r *run) runCmd(ctx context.Context, name string, cmd *exec.Cmd, stdout io.Writer, stdin io.Reader) error {
	tail := &postgres.TailBuffer{Max: 2048}
	cmd.Stdin, cmd.Stdout = stdin, stdout
	cmd.Stderr = io.MultiWriter(tail, r.o.Stderr)
	// Stop children gently when the runner is told to stop, and make sure
	// they die with it if it is killed outright.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	setParentDeathSignal(cmd)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s stopped: %w", name, context.Cause(ctx))
		}
		msg := strings.TrimSpace(tail.String())
		if msg == "" {
			return fmt.Errorf("%s failed: %w", name, err)
		}
		return fmt.Errorf("%s failed (%w): %s", name, err, msg)
	}
	return nil
}

// pgOptionValue escapes a value for PGOPTIONS, where spaces separate
// options and a backslash escapes.
func pgOptionValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, " ", `\ `).Replace(v)
}
