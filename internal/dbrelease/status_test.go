package dbrelease

import (
	"context"
	"testing"
)

func TestWritesSinceCountsTransactionsOnTheNewSide(t *testing.T) {
	ctx := context.Background()
	if st := mustStatus(t, "st_missing"); st.Exists || st.Marked {
		t.Fatalf("Status of a missing database: %+v", st)
	}
	createDB(t, "st_green", "CREATE TABLE t (id int)")
	baseline := mustStatus(t, "st_green") // taken at the switch
	func() {
		c := connectTo(t, "st_green")
		for i := 0; i < 5; i++ {
			if _, err := c.Exec(ctx, "INSERT INTO t VALUES ($1)", i); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Exec(ctx, "UPDATE t SET id = id + 1 WHERE id < 2"); err != nil {
			t.Fatal(err)
		}
		_ = c.Close(ctx) // a session reports its counters when it ends, or within about a second
	}()
	var w Writes
	eventually(t, "the commits show in pg_stat_database", func() bool {
		w = WritesSince(baseline, mustStatus(t, "st_green"))
		return w.Tuples >= 7
	})
	if !w.Exact || w.Tuples != 7 || w.Transactions < 6 {
		t.Fatalf("WritesSince = %+v; want exactly 7 rows written in at least 6 transactions", w)
	}
	// Reading the database commits read-only transactions but writes nothing.
	execIn(t, "st_green", "SELECT count(*) FROM t")
	if w2 := WritesSince(baseline, mustStatus(t, "st_green")); w2.Tuples != 7 {
		t.Errorf("a read counted as a write: %+v", w2)
	}
	// After a statistics reset the figures are a lower bound, flagged.
	execIn(t, "st_green", "SELECT pg_stat_reset()")
	if w3 := WritesSince(baseline, mustStatus(t, "st_green")); w3.Exact {
		t.Errorf("WritesSince across a statistics reset claims to be exact: %+v", w3)
	}
	// Another incarnation of the database cannot be compared either.
	createDB(t, "st_green", "")
	if w4 := WritesSince(baseline, mustStatus(t, "st_green")); w4.Exact {
		t.Errorf("WritesSince across a re-created database claims to be exact: %+v", w4)
	}
}
