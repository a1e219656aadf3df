package dbrelease

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Settle runs while the database takes writes, leaves the rows written
// since the last vacuum marked visible and a checkpoint after them, passes
// over a table another session holds locked, stops at its bound without
// an error, and skips the checkpoint for a role that may not run one.
func TestSettleMarksNewRowsVisibleWithoutStoppingWrites(t *testing.T) {
	ctx := context.Background()
	createDB(t, "st_app", appSQL)
	// Committed synchronously: this server commits asynchronously, and
	// VACUUM cannot mark visible what is not flushed yet.
	newOrders := "SET synchronous_commit = on; INSERT INTO orders (user_id, amount) SELECT 1 + i %% 2000, i FROM generate_series(1, %d) i"
	execIn(t, "st_app", "VACUUM")
	execIn(t, "st_app", fmt.Sprintf(newOrders, 50000))
	client := connectTo(t, "st_app") // the live side's client, writing throughout
	allVisible := func() (visible, pages int) {
		t.Helper()
		if err := client.QueryRow(ctx, "SELECT relallvisible, relpages FROM pg_class WHERE relname = 'orders'").Scan(&visible, &pages); err != nil {
			t.Fatal(err)
		}
		return visible, pages
	}
	redo := func() (lsn string) {
		t.Helper()
		if err := client.QueryRow(ctx, "SELECT redo_lsn::text FROM pg_control_checkpoint()").Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		return lsn
	}
	if visible, pages := allVisible(); visible >= pages {
		t.Fatalf("orders has %d of %d pages all-visible before Settle; the test needs new rows", visible, pages)
	}
	before := redo()
	locker := connectTo(t, "st_app")
	if _, err := locker.Exec(ctx, `BEGIN; LOCK TABLE billing."Invoice Lines" IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	done, err := Settle(ctx, admin(), "st_app", time.Minute)
	if err != nil || done != (Settled{Vacuumed: true, Checkpointed: true}) {
		t.Fatalf("Settle = %+v, %v; want vacuumed and checkpointed despite the locked table", done, err)
	}
	if visible, pages := allVisible(); visible != pages || pages == 0 {
		t.Fatalf("after Settle, %d of %d pages of orders are all-visible", visible, pages)
	}
	if after := redo(); after == before {
		t.Fatalf("after Settle, the last checkpoint's redo point is still %s", after)
	}
	if _, err := client.Exec(ctx, "INSERT INTO writes (id) VALUES (1)"); err != nil {
		t.Fatalf("a client could not write after Settle: %v", err)
	}
	if _, err := locker.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}

	execIn(t, "st_app", fmt.Sprintf(newOrders, 200000))
	done, err = Settle(ctx, admin(), "st_app", time.Millisecond)
	if err != nil || done.Vacuumed || done.Checkpointed {
		t.Fatalf("Settle bounded at 1 ms = %+v, %v; want nothing done and no error", done, err)
	}

	execIn(t, "", "DO $$ BEGIN CREATE ROLE st_owner LOGIN PASSWORD 'st'; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
	execIn(t, "st_app", "ALTER TABLE orders OWNER TO st_owner")
	owner := admin()
	owner.User, owner.Password = "st_owner", "st"
	done, err = Settle(ctx, owner, "st_app", time.Minute)
	if err != nil || done != (Settled{Vacuumed: true}) {
		t.Fatalf("Settle as a role without pg_checkpoint = %+v, %v; want vacuumed, no checkpoint and no error", done, err)
	}
}
