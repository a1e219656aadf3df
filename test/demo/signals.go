package demo

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// StopSignals end the demo and run its teardown: Ctrl-C, kill, and closing the
// terminal (SIGHUP), whose default action would end the process before it
// stops what it started (PostgreSQL, the control plane, the pods).
var StopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// SignalContext is a context ended by any of StopSignals. It also ignores
// SIGPIPE, so a closed terminal or pager makes writes fail instead of ending
// the process halfway through the teardown.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	signal.Ignore(syscall.SIGPIPE)
	return signal.NotifyContext(parent, StopSignals...)
}
