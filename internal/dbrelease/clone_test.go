package dbrelease

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/understudy-dev/understudy/internal/postgres"
)

func cloneSpec(t *testing.T, m Method, from, to string) CloneSpec {
	return CloneSpec{Method: m, From: from, To: to, Base: "app", Revision: "42", Jobs: 2,
		ScratchDir: t.TempDir(), Stderr: testWriter{t}}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestCloneMethodsCopyEverything(t *testing.T) {
	ctx := context.Background()
	createDB(t, "cl_src", appSQL)
	execIn(t, "", "GRANT CONNECT ON DATABASE cl_src TO app_owner")
	execIn(t, "", "ALTER DATABASE cl_src SET search_path = app, public")
	want := mustSums(t, "cl_src")
	if _, err := Clone(ctx, admin(), cloneSpec(t, Dump, "cl_src", "cl_dump")); !errors.Is(err, ErrNotFrozen) {
		t.Fatalf("Clone of a writable source = %v, want ErrNotFrozen", err)
	}
	if _, err := Freeze(ctx, admin(), "cl_src"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Method{Dump, Template} {
		t.Run(string(m), func(t *testing.T) {
			to := "cl_" + strings.ToLower(string(m))
			reader := connectTo(t, "cl_src") // a client reading the frozen side
			res, err := Clone(ctx, admin(), cloneSpec(t, m, "cl_src", to))
			if err != nil {
				t.Fatal(err)
			}
			if res.Reused || res.Redone || res.Took <= 0 || (m == Template) != (res.Disconnected > 0) {
				t.Errorf("result %+v", res)
			}
			sameSums(t, string(m)+" copy", mustSums(t, to), want)
			st := mustStatus(t, to)
			if !st.Complete() || st.Marker.Role != RoleCopy || st.Marker.Source != "cl_src" || st.Marker.Revision != "42" ||
				st.Marker.For != "app" || st.Owner != "app_owner" || st.Frozen || !st.AllowConnections {
				t.Errorf("copy state %+v", st)
			}
			var owner string
			c := connectTo(t, to)
			if err := c.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'").Scan(&owner); err != nil || owner != "app_owner" {
				t.Errorf("orders owned by %q (%v), want app_owner", owner, err)
			}
			if _, err := c.Exec(ctx, "INSERT INTO users (email) VALUES ('new@example')"); err != nil {
				t.Errorf("the copy is not writable for the migration: %v", err)
			}
			var path string
			if err := c.QueryRow(ctx, "SELECT setting FROM pg_settings WHERE name = 'search_path'").Scan(&path); err != nil || path != "app, public" {
				t.Errorf("the copy's search_path is %q (%v), want the source's database setting", path, err)
			}
			var canConnect bool
			_ = c.QueryRow(ctx, "SELECT has_database_privilege('app_owner', current_database(), 'CONNECT')").Scan(&canConnect)
			if !canConnect {
				t.Error("database privileges were not copied")
			}
			src := mustStatus(t, "cl_src")
			if !src.Frozen || !src.AllowConnections || src.CopyingTo != "" {
				t.Errorf("source after the copy: %+v", src)
			}
			if m == Dump {
				if err := reader.Ping(ctx); err != nil {
					t.Errorf("a Dump copy disconnected a reader of the source: %v", err)
				}
			}
			// Resumed after the copy completed: nothing is copied again.
			again, err := Clone(ctx, admin(), cloneSpec(t, m, "cl_src", to))
			if err != nil || !again.Reused {
				t.Fatalf("second Clone = %+v, %v; want Reused", again, err)
			}
			if st2 := mustStatus(t, to); st2.OID != st.OID {
				t.Error("the second Clone made the copy again")
			}
			// Another revision into the same database is refused.
			other := cloneSpec(t, m, "cl_src", to)
			other.Revision = "43"
			if _, err := Clone(ctx, admin(), other); !errors.Is(err, ErrStaleCopy) {
				t.Errorf("Clone over a copy of another revision = %v, want ErrStaleCopy", err)
			}
		})
	}
}

func TestInterruptedCloneIsRedone(t *testing.T) {
	ctx := context.Background()
	createDB(t, "ir_src", appSQL)
	want := mustSums(t, "ir_src")
	if _, err := Freeze(ctx, admin(), "ir_src"); err != nil {
		t.Fatal(err)
	}
	// A Dump copy interrupted half way: marked incomplete, half the data.
	createDB(t, "ir_dump", "CREATE TABLE users (id int); INSERT INTO users VALUES (1)")
	mark(t, "ir_dump", postgres.Marker{Role: RoleCopying, For: "app", Source: "ir_src", Revision: "42"})
	res, err := Clone(ctx, admin(), cloneSpec(t, Dump, "ir_src", "ir_dump"))
	if err != nil || !res.Redone {
		t.Fatalf("Clone over an incomplete copy = %+v, %v; want Redone", res, err)
	}
	sameSums(t, "redone copy", mustSums(t, "ir_dump"), want)

	// A Template copy interrupted after CREATE DATABASE, before its
	// comment: unmarked, with the intent on the source, which still
	// refuses connections.
	createDB(t, "ir_tmpl", "")
	execIn(t, "", "ALTER DATABASE ir_src SET understudy.copying_to = 'ir_tmpl'")
	execIn(t, "", "ALTER DATABASE ir_src WITH ALLOW_CONNECTIONS false")
	if st := mustStatus(t, "ir_src"); st.CopyingTo != "ir_tmpl" || st.AllowConnections {
		t.Fatalf("simulated crash state: %+v", st)
	}
	res, err = Clone(ctx, admin(), cloneSpec(t, Template, "ir_src", "ir_tmpl"))
	if err != nil || !res.Redone {
		t.Fatalf("Clone over an unmarked half copy = %+v, %v; want Redone", res, err)
	}
	sameSums(t, "redone template copy", mustSums(t, "ir_tmpl"), want)
	if st := mustStatus(t, "ir_src"); st.CopyingTo != "" || !st.AllowConnections || !st.Frozen {
		t.Errorf("source after the redone copy: %+v", st)
	}

	// A database the operator did not make is never overwritten.
	createDB(t, "ir_theirs", "CREATE TABLE precious (x int); INSERT INTO precious VALUES (7)")
	if _, err := Clone(ctx, admin(), cloneSpec(t, Dump, "ir_src", "ir_theirs")); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("Clone over an unmarked database = %v, want ErrNotOurs", err)
	}
	if sums := mustSums(t, "ir_theirs"); len(sums) != 1 {
		t.Errorf("the unmarked database changed: %v", sums)
	}
}

func TestFailedCloneLeavesNoCopyAndSourceOpen(t *testing.T) {
	ctx := context.Background()
	createDB(t, "fl_src", "CREATE TABLE t (x int)")
	if _, err := Freeze(ctx, admin(), "fl_src"); err != nil {
		t.Fatal(err)
	}
	// A pg_dump that cannot run: no scratch directory.
	s := cloneSpec(t, Dump, "fl_src", "fl_copy")
	s.ScratchDir = "/nonexistent/dir"
	if _, err := Clone(ctx, admin(), s); err == nil {
		t.Fatal("Clone with a missing scratch directory succeeded")
	}
	if st := mustStatus(t, "fl_copy"); st.Exists {
		t.Errorf("a failed copy was left behind: %+v", st)
	}
	// A name PostgreSQL would truncate is refused before anything happens.
	s = cloneSpec(t, Template, "fl_src", strings.Repeat("x", 64))
	if _, err := Clone(ctx, admin(), s); err == nil || !strings.Contains(err.Error(), "longer than 63") {
		t.Fatalf("Clone into a 64-byte name = %v", err)
	}
	if st := mustStatus(t, "fl_src"); !st.AllowConnections || st.CopyingTo != "" || !st.Frozen {
		t.Errorf("source after a failed copy: %+v", st)
	}
	// Abort before the switch: the copy goes, the source is writable.
	if _, err := Clone(ctx, admin(), cloneSpec(t, Template, "fl_src", "fl_copy")); err != nil {
		t.Fatal(err)
	}
	if dropped, err := DropCopy(ctx, admin(), "fl_copy"); err != nil || !dropped {
		t.Fatalf("DropCopy = %v, %v", dropped, err)
	}
	if err := Unfreeze(ctx, admin(), "fl_src"); err != nil {
		t.Fatal(err)
	}
	execIn(t, "fl_src", "INSERT INTO t VALUES (1)")
}

// A Dump copy's database is created before the freeze, while the source
// takes writes; the copy under the freeze restores into that same database.
// One prepared for another revision is redone, an abandoned one is dropped
// with the other unfinished copies, and nothing is prepared for a Template
// copy or over an existing database.
func TestPreparedCopyIsRestoredInto(t *testing.T) {
	ctx := context.Background()
	createDB(t, "pc_src", appSQL)
	if prepared, err := PrepareCopy(ctx, admin(), cloneSpec(t, Template, "pc_src", "pc_tmpl")); err != nil || prepared || mustStatus(t, "pc_tmpl").Exists {
		t.Fatalf("PrepareCopy for a Template copy = %v, %v; want nothing made", prepared, err)
	}
	spec := cloneSpec(t, Dump, "pc_src", "pc_dump")
	if prepared, err := PrepareCopy(ctx, admin(), spec); err != nil || !prepared {
		t.Fatalf("PrepareCopy = %v, %v", prepared, err)
	}
	st := mustStatus(t, "pc_dump")
	if !st.Unfinished() || st.Marker.Role != RolePrepared || st.Marker.Source != "pc_src" || st.Owner != "app_owner" ||
		mustStatus(t, "pc_src").CopyingTo != "pc_dump" || mustStatus(t, "pc_src").Frozen {
		t.Fatalf("prepared database %+v, source %+v", st, mustStatus(t, "pc_src"))
	}
	if prepared, err := PrepareCopy(ctx, admin(), spec); err != nil || prepared {
		t.Fatalf("PrepareCopy over the prepared database = %v, %v; want nothing done", prepared, err)
	}
	execIn(t, "pc_src", "INSERT INTO users (email) VALUES ('late@example')") // written after the prepare
	want := mustSums(t, "pc_src")
	if _, err := Freeze(ctx, admin(), "pc_src"); err != nil {
		t.Fatal(err)
	}
	res, err := Clone(ctx, admin(), spec)
	if err != nil || res.Redone || res.Reused {
		t.Fatalf("Clone into the prepared database = %+v, %v", res, err)
	}
	sameSums(t, "copy into the prepared database", mustSums(t, "pc_dump"), want)
	if got := mustStatus(t, "pc_dump"); got.OID != st.OID || !got.Complete() || got.Marker.CreatedAt.Before(res.FrozenSince) {
		t.Errorf("copy %+v: want the prepared database (OID %d), complete, marked after the freeze", got, st.OID)
	}
	if src := mustStatus(t, "pc_src"); src.CopyingTo != "" {
		t.Errorf("copy intent left on the source: %+v", src)
	}

	// Prepared for another revision: dropped and made again.
	other := cloneSpec(t, Dump, "pc_src", "pc_other")
	other.Revision = "41"
	if _, err := PrepareCopy(ctx, admin(), other); err != nil {
		t.Fatal(err)
	}
	res, err = Clone(ctx, admin(), cloneSpec(t, Dump, "pc_src", "pc_other"))
	if err != nil || !res.Redone {
		t.Fatalf("Clone over a database prepared for another revision = %+v, %v; want Redone", res, err)
	}
	sameSums(t, "redone copy", mustSums(t, "pc_other"), want)

	// Abandoned (the release ended before its freeze): dropped like any
	// unfinished copy, the intent with it.
	abandoned := cloneSpec(t, Dump, "pc_src", "pc_gone")
	abandoned.Base = "pc"
	if _, err := PrepareCopy(ctx, admin(), abandoned); err != nil {
		t.Fatal(err)
	}
	dropped, err := DropCopies(ctx, admin(), "pc", nil, 5)
	if err != nil || len(dropped) != 1 || dropped[0] != "pc_gone" || mustStatus(t, "pc_gone").Exists {
		t.Fatalf("DropCopies = %v, %v; want the prepared pc_gone dropped", dropped, err)
	}
}
