package refresh

import (
	"context"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/poll"
)

// A second refresh of the same target (a refresh-now Job beside the
// scheduled one) waits for the first instead of dropping its side database.
func TestRefreshesOfOneTargetRunOneAfterTheOther(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	held, err := postgres.Connect(ctx, srv.Conn(""), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(ctx)
	if _, err := held.Exec(ctx, "SELECT pg_advisory_lock($1)", LockKey("lock_one")); err != nil {
		t.Fatal(err)
	}
	done := make(chan Result, 1)
	go func() { done <- Run(ctx, opts(t, "lock_one", "src.custom")) }()

	poll.True(t, "the refresh to wait for the one holding the lock", 50*time.Millisecond, 30*time.Second, func() bool {
		var waiting int
		if err := held.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting > 0
	})
	if got := databases(t, "lock_one"); len(got) != 0 {
		t.Fatalf("a waiting refresh touched databases: %v", got)
	}
	if _, err := held.Exec(ctx, "SELECT pg_advisory_unlock($1)", LockKey("lock_one")); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Result != Succeeded {
		t.Fatalf("refresh after the wait: %s", res.Error)
	}
	sameSums(t, "copy vs source", mustChecksums(t, "lock_one"), dumps(t).sums)

	// Two at once: both succeed, one after the other.
	results := make(chan Result, 2)
	for range 2 {
		go func() { results <- Run(ctx, opts(t, "lock_two", "src.custom")) }()
	}
	for range 2 {
		if res := <-results; res.Result != Succeeded {
			t.Fatalf("concurrent refresh: %s", res.Error)
		}
	}
	sameSums(t, "copy vs source", mustChecksums(t, "lock_two"), dumps(t).sums)
	if got := databases(t, "lock_two"); len(got) != 2 {
		t.Fatalf("databases after two refreshes with keepPrevious 1: %v, want the target and one previous copy", got)
	}
}
