package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// replSQL is a live database replication can carry: keys everywhere, a
// serial and a bigserial in use, the writer's table.
const replSQL = `
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text);
INSERT INTO users (email, name) SELECT 'user' || i || '@example', 'n' || i FROM generate_series(1, 3000) i;
CREATE TABLE events (id bigserial PRIMARY KEY, user_id int REFERENCES users, note text);
INSERT INTO events (user_id, note) SELECT 1 + i % 3000, 'e' || i FROM generate_series(1, 5000) i;
CREATE TABLE writes (id bigint PRIMARY KEY, at timestamptz DEFAULT now());
`

func replicaSpec(from, to string) ReplicaSpec {
	return ReplicaSpec{From: from, To: to, Base: "rp", Revision: "2", Publisher: admin()}
}

// leftovers lists the replication objects of understudy on the server.
func leftovers(t *testing.T, dbs ...string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	collect := func(db, sql string) {
		c, err := postgres.Connect(ctx, srv.Conn(db), "test")
		if err != nil {
			if strings.Contains(err.Error(), "does not exist") {
				return
			}
			t.Fatal(err)
		}
		defer c.Close(ctx)
		rows, err := c.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, names...)
	}
	collect("", "SELECT 'slot ' || slot_name FROM pg_replication_slots WHERE slot_name LIKE 'understudy%'")
	collect("", "SELECT 'subscription ' || subname FROM pg_subscription WHERE subname LIKE 'understudy%'")
	for _, db := range dbs {
		collect(db, "SELECT 'publication ' || pubname || ' in "+db+"' FROM pg_publication WHERE pubname LIKE 'understudy%'")
	}
	return out
}

func noLeftovers(t *testing.T, dbs ...string) {
	t.Helper()
	if left := leftovers(t, dbs...); len(left) > 0 {
		t.Fatalf("replication objects left behind: %v", left)
	}
}

func TestReplicatedCutoverCarriesEveryAcknowledgedWriteAndTheSequences(t *testing.T) {
	ctx := context.Background()
	live, next := "rp_live", "rp_next"
	createDB(t, live, replSQL)
	if why, err := ReplicationUnsupported(ctx, admin(), live); err != nil || len(why) > 0 {
		t.Fatalf("ReplicationUnsupported = %v, %v; want none", why, err)
	}
	w := startWriter(live)
	eventually(t, "the writer writes", func() bool { n, _ := w.counts(); return n >= 100 })
	if err := Replicate(ctx, admin(), replicaSpec(live, next)); err != nil {
		w.finish()
		t.Fatalf("%v\nserver log:\n%s", err, serverErrors())
	}
	if st := mustStatus(t, next); !st.Unfinished() || st.Marker.Role != RoleReplica {
		t.Errorf("the replica's marker = %+v; want role %q, unfinished", st.Marker, RoleReplica)
	}
	// The migration runs on the next database while it follows live: an
	// added column with a default, a new table, a new index.
	execIn(t, next, `ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT 'en';
		CREATE TABLE audit (id bigserial PRIMARY KEY, what text); CREATE INDEX ON events (note)`)
	execIn(t, live, "INSERT INTO users (email) VALUES ('after-migration@example'); INSERT INTO events (user_id, note) VALUES (1, 'late')")
	if why, err := ReplicaConflicts(ctx, admin(), live, next); err != nil || len(why) > 0 {
		t.Fatalf("ReplicaConflicts = %v, %v; want none for an additive migration", why, err)
	}
	// Held read-only until the switch, as the candidate starts on it.
	if _, err := Freeze(ctx, admin(), next); err != nil {
		t.Fatal(err)
	}
	held := connectTo(t, next)
	worker := queryInts(t, "", "SELECT pid FROM pg_stat_subscription WHERE subname = '"+ReplicationName(next)+"' AND pid IS NOT NULL")
	start := time.Now()
	if _, err := Freeze(ctx, admin(), live); err != nil {
		w.finish()
		t.Fatal(err)
	}
	res, err := CatchUp(ctx, admin(), live, next, 10*time.Second)
	window := time.Since(start)
	acked := w.finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("window %s (catch-up %s, %d sequences), %d writes acknowledged", window, res.Waited, res.Sequences, len(acked))
	if res.Sequences < 2 {
		t.Errorf("CatchUp set %d sequences; want users and events", res.Sequences)
	}
	// Every acknowledged write is on the next side, and it has every row.
	in := map[int64]bool{}
	for _, id := range queryInts(t, next, "SELECT id FROM writes") {
		in[id] = true
	}
	for _, id := range acked {
		if !in[id] {
			t.Fatalf("acknowledged write %d is missing from the next database (%d acknowledged)", id, len(acked))
		}
	}
	for _, table := range []string{"users", "events", "writes"} {
		l, n := queryInts(t, live, "SELECT count(*) FROM "+table)[0], queryInts(t, next, "SELECT count(*) FROM "+table)[0]
		if l != n {
			t.Errorf("%s: %d rows live, %d on the next database", table, l, n)
		}
	}
	// Writable now, sequences past live's: no duplicate key.
	if _, err := held.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a session opened while the next database was held read-only survived the catch-up; it would refuse writes after the switch")
	}
	// The rows it counts from here on are the application's alone: the
	// apply worker's statistics were written before the catch-up ended.
	before := State{Name: next}
	if err := ReadRows(ctx, admin(), &before); err != nil {
		t.Fatal(err)
	}
	// A backend writes its statistics out at most once a second, and when
	// it exits: once the apply worker is gone (ended here if it is not),
	// rows it had not written out at the baseline would show up below.
	for _, pid := range worker {
		eventually(t, "the apply worker gone", func() bool {
			return queryInts(t, "", fmt.Sprintf("SELECT pg_terminate_backend(%d)::int", pid))[0] == 0
		})
	}
	execIn(t, next, "INSERT INTO users (email) VALUES ('new@example'); INSERT INTO events (user_id, note) VALUES (1, 'new'); SELECT pg_stat_force_next_flush()")
	after := State{Name: next}
	if err := ReadRows(ctx, admin(), &after); err != nil {
		t.Fatal(err)
	}
	if w := WritesSince(before, after); !w.Known || w.Rows != 2 {
		t.Errorf("after the catch-up the next database counts %+v written; want the 2 rows the application wrote", w)
	}
	if st := mustStatus(t, next); st.Frozen || !st.CopyOf(live, "2", mustStatus(t, live).FrozenSince) || st.Marker.Role != RoleCopy {
		t.Errorf("after the catch-up the next database is %+v; want writable, a complete copy made after the freeze", st)
	}
	if again, err := CatchUp(ctx, admin(), live, next, time.Second); err != nil || !again.Done {
		t.Errorf("CatchUp again = %+v, %v; want done, nothing redone", again, err)
	}
	if err := DropReplication(ctx, admin(), live, next); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, live, next)
}

func TestReplicaConflictsNameTheColumnAndNothingIsLeftBehind(t *testing.T) {
	ctx := context.Background()
	live, next := "rc_live", "rc_next"
	createDB(t, live, replSQL)
	if err := Replicate(ctx, admin(), replicaSpec(live, next)); err != nil {
		t.Fatal(err)
	}
	// A column NOT NULL without a default, added to an empty table (on a
	// full one the migration itself fails).
	execIn(t, live, "CREATE TABLE tags (id serial PRIMARY KEY, tag text)")
	execIn(t, next, "CREATE TABLE tags (id serial PRIMARY KEY, tag text)")
	execIn(t, next, "ALTER TABLE users RENAME COLUMN name TO full_name; ALTER TABLE tags ADD COLUMN kind text NOT NULL")
	why, err := ReplicaConflicts(ctx, admin(), live, next)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(why, "; ")
	for _, want := range []string{"column public.users.name is gone", "column public.tags.kind is NOT NULL without a default"} {
		if !strings.Contains(got, want) {
			t.Errorf("conflicts %q do not say %q", got, want)
		}
	}
	// A write to the renamed column stops the subscription, and it says so.
	execIn(t, live, "UPDATE users SET name = 'x' WHERE id = 1")
	eventually(t, "the subscription stops on the apply error", func() bool {
		st, err := ReplicaStatus(ctx, admin(), next)
		return err == nil && st.Subscribed && !st.Enabled
	})
	if why, _ := ReplicaConflicts(ctx, admin(), live, next); !strings.Contains(strings.Join(why, "; "), "stopped on an apply error") {
		t.Errorf("conflicts %v do not report the stopped subscription", why)
	}
	if _, err := DropCopy(ctx, admin(), next); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, live, next)
	if st := mustStatus(t, next); st.Exists {
		t.Error("the replica was not dropped")
	}
}

func TestReplicationUnsupportedNamesWhatToFix(t *testing.T) {
	ctx := context.Background()
	live := "ru_live"
	createDB(t, live, replSQL+`CREATE TABLE log_lines (at timestamptz, line text);
		CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);
		SELECT lo_create(0);`)
	why, err := ReplicationUnsupported(ctx, admin(), live)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(why, "; ")
	for _, want := range []string{"without a primary key or replica identity: public.log_lines", "unlogged tables are not replicated: public.cache", "large objects"} {
		if !strings.Contains(got, want) {
			t.Errorf("ReplicationUnsupported %q does not say %q", got, want)
		}
	}
	if strings.Contains(got, "wal_level") {
		t.Errorf("ReplicationUnsupported %q blames wal_level on a logical server", got)
	}
}

func TestReplicateResumesAndCleansUpAfterAnInterruption(t *testing.T) {
	ctx := context.Background()
	live, next := "ri_live", "ri_next"
	createDB(t, live, replSQL)
	// Interrupted before its subscription: created and marked, no more.
	createDB(t, next, "")
	mark(t, next, postgres.Marker{Role: RoleReplica, For: "ri", Source: live, Revision: "2"})
	spec := replicaSpec(live, next)
	spec.Base = "ri"
	if err := Replicate(ctx, admin(), spec); err != nil {
		t.Fatal(err)
	}
	if n := queryInts(t, next, "SELECT count(*) FROM users")[0]; n != 3000 {
		t.Errorf("the replica redone has %d users; want 3000", n)
	}
	// Again, as a restarted manager would: only waited for.
	oid := mustStatus(t, next).OID
	if err := Replicate(ctx, admin(), spec); err != nil || mustStatus(t, next).OID != oid {
		t.Fatalf("Replicate again = %v (oid %d, was %d); want the same replica", err, mustStatus(t, next).OID, oid)
	}
	// A catch-up without the freeze is refused; nothing changes.
	if _, err := CatchUp(ctx, admin(), live, next, time.Second); !errors.Is(err, ErrNotFrozen) {
		t.Errorf("CatchUp of an unfrozen source = %v; want ErrNotFrozen", err)
	}
	// Retention drops a leftover replica with its replication.
	dropped, err := DropCopies(ctx, admin(), "ri", []string{live}, 1)
	if err != nil || len(dropped) != 1 || dropped[0] != next {
		t.Fatalf("DropCopies = %v, %v; want [%s]", dropped, err, next)
	}
	noLeftovers(t, live, next)
}

func queryInts(t *testing.T, db, sql string) []int64 {
	t.Helper()
	c := connectTo(t, db)
	rows, err := c.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// serverErrors is what the server logged as errors, for a failure's message.
func serverErrors() string {
	var out []string
	for _, l := range strings.Split(srv.Log(), "\n") {
		if strings.Contains(l, "ERROR") || strings.Contains(l, "DETAIL") || strings.Contains(l, "CONTEXT") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
