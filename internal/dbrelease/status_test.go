package dbrelease

import (
	"context"
	"testing"
	"time"
)

// rowsOf is db's State with its row counter, as the controller reads it.
func rowsOf(t *testing.T, db string) State {
	t.Helper()
	st := mustStatus(t, db)
	if err := ReadRows(context.Background(), admin(), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// databaseWideRows is pg_stat_database's count of rows written, catalog
// tuples included: what writesSinceSwitch used to count.
func databaseWideRows(t *testing.T, db string) int64 {
	t.Helper()
	var n int64
	c := connectTo(t, "")
	if err := c.QueryRow(context.Background(), `SELECT tup_inserted + tup_updated + tup_deleted
		FROM pg_stat_database WHERE datname = $1`, db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An application writes 53 rows in 53 transactions to the side a release
// switched to, while the operator runs what it runs there after a switch
// (the ANALYZE of the final copy, a vacuum, status reads, the freeze of an
// abort): the count is 53, not the catalog rows ANALYZE writes.
func TestWritesSinceCountsOnlyTheApplicationsRows(t *testing.T) {
	ctx := context.Background()
	createDB(t, "st_green", `CREATE TABLE t (id int PRIMARY KEY, v text); CREATE SCHEMA app; CREATE TABLE app.u (id int)`)
	baseline, wideBefore := rowsOf(t, "st_green"), databaseWideRows(t, "st_green") // read at the switch
	c := connectTo(t, "st_green")
	write := func(sql string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for i := 0; i < 40; i++ { // 40 rows
		write("INSERT INTO t VALUES ($1, 'x')", i)
		if i == 20 {
			if err := Analyze(ctx, admin(), "st_green"); err != nil { // the after-switch ANALYZE
				t.Fatal(err)
			}
		}
	}
	if _, err := Settle(ctx, admin(), "st_green", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // 10 more
		write("INSERT INTO app.u VALUES ($1)", i)
	}
	write("UPDATE t SET v = 'y' WHERE id = 1")   // 1
	write("UPDATE t SET v = 'y' WHERE id = 100") // 0: no such row
	write("DELETE FROM t WHERE id IN (2, 3)")    // 2
	write("SELECT count(*) FROM t")              // a read writes nothing
	mustStatus(t, "st_green")
	// Counters reach the shared statistics when a session's transaction
	// ends, at most once a second: this one flushes when it next goes idle.
	write("SELECT pg_stat_force_next_flush()")
	if _, err := Freeze(ctx, admin(), "st_green"); err != nil { // the abort freezes the abandoned side
		t.Fatal(err)
	}
	w := WritesSince(baseline, rowsOf(t, "st_green"))
	if !w.Known || !w.Exact || w.Rows != 53 {
		t.Fatalf("WritesSince = %+v; want exactly the application's 53 rows", w)
	}
	// What the figure used to count is far off: ANALYZE writes catalog rows.
	eventually(t, "the database-wide counter shows the ANALYZE", func() bool {
		return databaseWideRows(t, "st_green")-wideBefore > 2*53
	})

	// Without a baseline read at the switch nothing can be said.
	if w := WritesSince(mustStatus(t, "st_green"), rowsOf(t, "st_green")); w.Known {
		t.Errorf("WritesSince without row counters claims a count: %+v", w)
	}
	// After a statistics reset the figures are a lower bound, flagged.
	execIn(t, "st_green", "SELECT pg_stat_reset()")
	if w := WritesSince(baseline, rowsOf(t, "st_green")); w.Exact || !w.Known {
		t.Errorf("WritesSince across a statistics reset claims to be exact: %+v", w)
	}
	// Another incarnation of the database cannot be compared either.
	createDB(t, "st_green", "")
	if w := WritesSince(baseline, rowsOf(t, "st_green")); w.Exact {
		t.Errorf("WritesSince across a re-created database claims to be exact: %+v", w)
	}
}
