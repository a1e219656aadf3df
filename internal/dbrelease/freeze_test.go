package dbrelease

import (
	"context"
	"testing"
	"time"
)

func TestFreezeStopsWritesKeepsReadsAndUnfreezeRestoresThem(t *testing.T) {
	ctx := context.Background()
	createDB(t, "fz_app", appSQL)
	before := connectTo(t, "fz_app") // a client connected before the freeze
	if _, err := before.Exec(ctx, "INSERT INTO writes (id) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	since, err := Freeze(ctx, admin(), "fz_app")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(since); d < 0 || d > time.Minute {
		t.Errorf("frozen since %v, not just now", since)
	}
	// The old session was ended: it cannot write with its old settings.
	if _, err := before.Exec(ctx, "INSERT INTO writes (id) VALUES (2)"); err == nil {
		t.Fatal("a session opened before the freeze could still write")
	}
	// On reconnecting, reads work and writes fail with the read-only error.
	after := connectTo(t, "fz_app")
	var n int
	if err := after.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != 2000 {
		t.Fatalf("read while frozen: %d, %v", n, err)
	}
	if _, err := after.Exec(ctx, "INSERT INTO writes (id) VALUES (3)"); !isReadOnly(err) {
		t.Fatalf("write while frozen: %v, want SQLSTATE 25006", err)
	}
	if _, err := after.Exec(ctx, "UPDATE users SET email = email || 'x' WHERE id = 1"); !isReadOnly(err) {
		t.Fatalf("update while frozen: %v, want SQLSTATE 25006", err)
	}

	// The state is in the server: a fresh connection sees it, and freezing
	// again keeps the original time.
	frozen, got, err := FreezeState(ctx, admin(), "fz_app")
	if err != nil || !frozen || !got.Equal(since) {
		t.Fatalf("FreezeState = %v, %v, %v; want frozen since %v", frozen, got, err, since)
	}
	again, err := Freeze(ctx, admin(), "fz_app")
	if err != nil || !again.Equal(since) {
		t.Fatalf("second Freeze = %v, %v; want %v", again, err, since)
	}
	if err := after.Ping(ctx); err != nil {
		t.Errorf("freezing a frozen database ended a read-only session: %v", err)
	}

	if err := Unfreeze(ctx, admin(), "fz_app"); err != nil {
		t.Fatal(err)
	}
	if frozen, _, err := FreezeState(ctx, admin(), "fz_app"); err != nil || frozen {
		t.Fatalf("after Unfreeze: frozen=%v, %v", frozen, err)
	}
	// The session opened during the freeze was ended (it was read-only);
	// a new one writes.
	if err := after.Ping(ctx); err == nil {
		t.Error("a read-only session from the freeze outlived Unfreeze")
	}
	execIn(t, "fz_app", "INSERT INTO writes (id) VALUES (4)")
	if err := Unfreeze(ctx, admin(), "fz_app"); err != nil {
		t.Fatalf("Unfreeze of a writable database: %v", err)
	}
}

// A manager restarted in the middle of Freeze or Unfreeze leaves one
// setting without the other; calling the operation again finishes it.
func TestFreezeAndUnfreezeResumeAfterARestart(t *testing.T) {
	ctx := context.Background()
	createDB(t, "fz_resume", "CREATE TABLE t (id int)")
	old := connectTo(t, "fz_resume")
	// Interrupted Freeze: read-only set, no time recorded, sessions not ended.
	execIn(t, "", "ALTER DATABASE fz_resume SET default_transaction_read_only = on")
	if frozen, since, err := FreezeState(ctx, admin(), "fz_resume"); err != nil || !frozen || !since.IsZero() {
		t.Fatalf("FreezeState mid-freeze = %v, %v, %v", frozen, since, err)
	}
	since, err := Freeze(ctx, admin(), "fz_resume")
	if err != nil || since.IsZero() {
		t.Fatalf("resumed Freeze = %v, %v", since, err)
	}
	if _, err := old.Exec(ctx, "INSERT INTO t VALUES (1)"); err == nil {
		t.Fatal("the session from before the freeze was not ended")
	}
	// Interrupted Unfreeze: read-only reset, frozen sessions not ended yet.
	during := connectTo(t, "fz_resume")
	execIn(t, "", "ALTER DATABASE fz_resume RESET default_transaction_read_only")
	if err := Unfreeze(ctx, admin(), "fz_resume"); err != nil {
		t.Fatal(err)
	}
	if err := during.Ping(ctx); err == nil {
		t.Error("a read-only session survived the resumed Unfreeze")
	}
	if st := mustStatus(t, "fz_resume"); st.Frozen || !st.FrozenSince.IsZero() {
		t.Errorf("after the resumed Unfreeze: %+v", st)
	}
	execIn(t, "fz_resume", "INSERT INTO t VALUES (2)")
}

// The freeze is timed to the microsecond, by the server's clock: the time
// Freeze records lies between the server's clock read before and after it,
// reads back unchanged, and FrozenFor (lastFreezeDuration and the write
// freeze metric) lies between the clock readings around it, not up to a
// second high as from a time kept to the second.
func TestFreezeIsTimedBelowTheSecond(t *testing.T) {
	ctx := context.Background()
	createDB(t, "fz_timed", "CREATE TABLE t (id int)")
	clock := func() time.Time {
		t.Helper()
		var now time.Time
		if err := connectTo(t, "").QueryRow(ctx, "SELECT clock_timestamp()").Scan(&now); err != nil {
			t.Fatal(err)
		}
		return now
	}
	t0 := clock()
	since, err := Freeze(ctx, admin(), "fz_timed")
	if err != nil {
		t.Fatal(err)
	}
	t1 := clock()
	if since.Before(t0) || since.After(t1) {
		t.Fatalf("frozen since %s, want between %s and %s", since.Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano), t1.Format(time.RFC3339Nano))
	}
	if _, got, err := FreezeState(ctx, admin(), "fz_timed"); err != nil || !got.Equal(since) {
		t.Fatalf("FreezeState since %s (%v), want %s", got.Format(time.RFC3339Nano), err, since.Format(time.RFC3339Nano))
	}
	frozen, err := FrozenFor(ctx, admin(), "fz_timed")
	t2 := clock()
	if err != nil || frozen < t1.Sub(since) || frozen > t2.Sub(since) {
		t.Fatalf("FrozenFor = %s (%v), want between %s and %s", frozen, err, t1.Sub(since), t2.Sub(since))
	}
}
