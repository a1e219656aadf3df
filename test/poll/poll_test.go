package poll

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitReturnsOnceTheCheckPasses(t *testing.T) {
	calls := 0
	err := Wait(context.Background(), time.Millisecond, time.Minute, func() error {
		calls++
		if calls < 3 {
			return ErrNotYet
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Wait = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestWaitReturnsTheLastErrorAfterTheTimeout(t *testing.T) {
	last := errors.New("still two replicas")
	err := Wait(context.Background(), time.Millisecond, 20*time.Millisecond, func() error { return last })
	if !errors.Is(err, last) {
		t.Fatalf("Wait = %v, want %v", err, last)
	}
}

func TestWaitStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Wait(ctx, time.Hour, time.Hour, Holds(func() bool { return false }))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}

func TestReportsKeepsTheCheckError(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		ok   bool
		err  error
		want error
	}{{true, boom, nil}, {false, boom, boom}, {false, nil, ErrNotYet}}
	for _, c := range cases {
		if got := Reports(func() (bool, error) { return c.ok, c.err })(); !errors.Is(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("Reports(%v, %v) = %v, want %v", c.ok, c.err, got, c.want)
		}
	}
}
