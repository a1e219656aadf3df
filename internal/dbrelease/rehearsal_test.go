package dbrelease

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// A rehearsal copies a database that keeps taking writes: from one
// consistent snapshot (a transaction writing two tables is in the copy
// whole or not at all), without freezing it or ending its sessions.
func TestRehearsalCopiesALiveDatabaseFromOneSnapshot(t *testing.T) {
	ctx := context.Background()
	createDB(t, "rh_src", appSQL+"; CREATE TABLE pairs (id bigint PRIMARY KEY); CREATE TABLE mirror (id bigint PRIMARY KEY)")
	spec := cloneSpec(t, Dump, "rh_src", "rh_copy")
	spec.Rehearsal = true

	// A client writing without pause, each transaction into both tables.
	w := connectTo(t, "rh_src")
	var written, failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := pgx.BeginFunc(ctx, w, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO pairs VALUES ($1)", i); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "INSERT INTO mirror VALUES ($1)", i)
				return err
			})
			if err != nil {
				failed.Add(1)
				return
			}
			written.Add(1)
		}
	}()
	eventually(t, "the writer writing", func() bool { return written.Load() > 50 })
	res, err := Clone(ctx, admin(), spec)
	before := written.Load()
	eventually(t, "the writer writing after the copy", func() bool { return written.Load() > before+50 })
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 {
		t.Fatal("a write on the live source failed during the rehearsal copy")
	}
	c := connectTo(t, "rh_copy")
	var pairs, mirror int64
	if err := c.QueryRow(ctx, "SELECT (SELECT count(*) FROM pairs), (SELECT count(*) FROM mirror)").Scan(&pairs, &mirror); err != nil {
		t.Fatal(err)
	}
	if pairs == 0 || pairs != mirror || pairs >= written.Load() {
		t.Fatalf("the copy has %d pairs and %d mirrors of %d written: not one snapshot taken during the writes", pairs, mirror, written.Load())
	}
	st, src := mustStatus(t, "rh_copy"), mustStatus(t, "rh_src")
	if !st.RehearsalOf("rh_src", "42") || st.Complete() || st.CopyOf("rh_src", "42", time.Time{}) || st.Frozen {
		t.Errorf("rehearsal copy state %+v: must be a rehearsal, never a final copy", st)
	}
	if src.Frozen || src.CopyingTo != "" || !src.AllowConnections || !res.FrozenSince.IsZero() {
		t.Errorf("source after the rehearsal: %+v", src)
	}
	again, err := Clone(ctx, admin(), spec)
	if err != nil || !again.Reused || mustStatus(t, "rh_copy").OID != st.OID {
		t.Fatalf("second rehearsal Clone = %+v, %v; want Reused", again, err)
	}

	// The final copy of the same release never takes the rehearsal for
	// itself: it wants a frozen source, and a rehearsal copy in its place
	// is another release's to drop.
	final := cloneSpec(t, Dump, "rh_src", "rh_copy")
	if _, err := Clone(ctx, admin(), final); !errors.Is(err, ErrNotFrozen) {
		t.Fatalf("final Clone of a live source = %v, want ErrNotFrozen", err)
	}
	if _, err := Freeze(ctx, admin(), "rh_src"); err != nil {
		t.Fatal(err)
	}
	if _, err := Clone(ctx, admin(), final); !errors.Is(err, ErrStaleCopy) {
		t.Fatalf("final Clone over the rehearsal copy = %v, want ErrStaleCopy", err)
	}
	if d, err := FrozenFor(ctx, admin(), "rh_src"); err != nil || d <= 0 || d > time.Minute {
		t.Fatalf("FrozenFor a frozen database = %s, %v", d, err)
	}
	if err := Unfreeze(ctx, admin(), "rh_src"); err != nil {
		t.Fatal(err)
	}
	if d, err := FrozenFor(ctx, admin(), "rh_src"); err != nil || d != 0 {
		t.Fatalf("FrozenFor a writable database = %s, %v", d, err)
	}

	tmpl := cloneSpec(t, Template, "rh_src", "rh_tmpl")
	tmpl.Rehearsal = true
	if _, err := Clone(ctx, admin(), tmpl); err == nil || mustStatus(t, "rh_tmpl").Exists {
		t.Fatal("a Template rehearsal, which would end the live database's sessions, was made")
	}
}

// A rehearsal copy left behind is a leftover: retention drops it like an
// incomplete copy, unless it is kept.
func TestDropCopiesDropsLeftoverRehearsals(t *testing.T) {
	ctx := context.Background()
	createDB(t, "rl_green", "")
	mark(t, "rl_green", postgres.Marker{Role: RoleRehearsal, For: "rl", Source: "rl_blue", Revision: "2", CreatedAt: time.Now()})
	if dropped, err := DropCopies(ctx, admin(), "rl", []string{"rl_green"}, 1); err != nil || len(dropped) != 0 {
		t.Fatalf("DropCopies dropped the kept rehearsal: %v, %v", dropped, err)
	}
	if dropped, err := DropCopies(ctx, admin(), "rl", nil, 1); err != nil || len(dropped) != 1 || dropped[0] != "rl_green" {
		t.Fatalf("DropCopies = %v, %v; want the leftover rehearsal dropped", dropped, err)
	}
}
