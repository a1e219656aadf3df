// Package poll is the one polling loop of the test suites: call a check
// until it passes, and fail with what was awaited and the check's last
// error when the time is up. Suites wait on what a user would see (an API
// server read that bypasses the cache, a database's state), never sleep for
// a fixed time.
package poll

import (
	"context"
	"errors"
	"testing"
	"time"
)

// ErrNotYet is what a check without a reason of its own reports.
var ErrNotYet = errors.New("not yet")

// Wait calls check every interval until it returns nil, and returns
// check's last error once timeout has passed (or ctx's, when ctx ends
// first). check runs at once, and once more after the timeout.
func Wait(ctx context.Context, every, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// Until calls check every interval until it returns nil, failing tb
// (Fatalf) with what and check's last error after timeout.
func Until(tb testing.TB, what string, every, timeout time.Duration, check func() error) {
	tb.Helper()
	if err := Wait(context.Background(), every, timeout, check); err != nil {
		tb.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
	}
}

// True is Until for a check that only says yes or no.
func True(tb testing.TB, what string, every, timeout time.Duration, cond func() bool) {
	tb.Helper()
	Until(tb, what, every, timeout, Holds(cond))
}

// Holds turns a yes-or-no check into one for Wait and Until.
func Holds(cond func() bool) func() error {
	return func() error {
		if cond() {
			return nil
		}
		return ErrNotYet
	}
}

// Reports turns a check that reports a result and an error into one for
// Wait and Until: false with no error is ErrNotYet.
func Reports(cond func() (bool, error)) func() error {
	return func() error {
		ok, err := cond()
		switch {
		case ok:
			return nil
		case err != nil:
			return err
		}
		return ErrNotYet
	}
}
