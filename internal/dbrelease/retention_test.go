package dbrelease

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
)

func TestEnsureDatabaseCreatesOrAdopts(t *testing.T) {
	ctx := context.Background()
	execIn(t, "", "DROP DATABASE IF EXISTS en_blue")
	created, err := EnsureDatabase(ctx, admin(), "en_blue", "en", "")
	if err != nil || !created {
		t.Fatalf("EnsureDatabase of a missing database = %v, %v", created, err)
	}
	st := mustStatus(t, "en_blue")
	if !st.Complete() || st.Marker.Role != RoleInitial || st.Marker.For != "en" || st.Frozen {
		t.Fatalf("new database: %+v", st)
	}
	if created, err := EnsureDatabase(ctx, admin(), "en_blue", "en", ""); err != nil || created {
		t.Fatalf("second EnsureDatabase = %v, %v", created, err)
	}
	// The application's existing database is adopted as it is.
	createDB(t, "adopt_blue", "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
	execIn(t, "", "COMMENT ON DATABASE adopt_blue IS 'the shop, since 2019'")
	if created, err := EnsureDatabase(ctx, admin(), "adopt_blue", "adopt", ""); err != nil || created {
		t.Fatalf("EnsureDatabase of an existing database = %v, %v", created, err)
	}
	d, err := Status(ctx, admin(), "adopt_blue")
	if err != nil || d.Marked || len(mustSums(t, "adopt_blue")) != 1 {
		t.Fatalf("adopted database changed: %+v %v", d, err)
	}
	if dropped, err := DropCopies(ctx, admin(), "adopt", nil, 0); err != nil || len(dropped) != 0 {
		t.Fatalf("DropCopies dropped %v (%v) from an adopted base", dropped, err)
	}
	if _, err := DropCopy(ctx, admin(), "adopt_blue"); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("DropCopy of the adopted database = %v, want ErrNotOurs", err)
	}
	if !mustStatus(t, "adopt_blue").Exists {
		t.Fatal("the adopted database was dropped")
	}
	// An interrupted copy is not a database to start from.
	createDB(t, "en_green", "")
	mark(t, "en_green", postgres.Marker{Role: RoleCopying, For: "en"})
	if _, err := EnsureDatabase(ctx, admin(), "en_green", "en", ""); err == nil || !strings.Contains(err.Error(), "incomplete copy") {
		t.Fatalf("EnsureDatabase of an incomplete copy = %v", err)
	}
}

func TestDropCopiesKeepsRetainedKeptAndUnmarked(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	marked := map[string]postgres.Marker{
		"rt_green":                   {Role: RoleCopy, For: "rt", CreatedAt: now},                        // active: kept
		"rt_blue":                    {Role: RoleCopy, For: "rt", CreatedAt: now.Add(-1 * time.Hour)},    // previous: kept
		"rt_green_prev_1":            {Role: RoleCopy, For: "rt", CreatedAt: now.Add(-2 * time.Hour)},    // retained
		"rt_blue_prev_2":             {Role: RoleCopy, For: "rt", CreatedAt: now.Add(-3 * time.Hour)},    // beyond retention
		"rt_blue_prev_3":             {Role: RoleInitial, For: "rt", CreatedAt: now.Add(-4 * time.Hour)}, // beyond retention
		"rt_green_prev_4":            {Role: RoleCopying, For: "rt", CreatedAt: now.Add(-5 * time.Minute)},
		"rtother_blue_prev_1":        {Role: RoleCopy, For: "rtother", CreatedAt: now.Add(-9 * time.Hour)},
		"rt_refresh_copy_prev_00001": {Role: "copy", For: "rt", CreatedAt: now.Add(-9 * time.Hour)}, // another tool's marker
	}
	for name, m := range marked {
		createDB(t, name, "")
		if strings.HasPrefix(name, "rt_refresh") {
			m.Tool = "understudy-refresh"
			execIn(t, "", "COMMENT ON DATABASE "+name+" IS "+postgres.QuoteLiteral(m.Comment()))
			continue
		}
		mark(t, name, m)
	}
	createDB(t, "rt_blue_prev_0", "") // adopted, moved aside: no marker
	dropped, err := DropCopies(ctx, admin(), "rt", []string{"rt_green", "rt_blue"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dropped)
	if want := []string{"rt_blue_prev_2", "rt_blue_prev_3", "rt_green_prev_4"}; !slices.Equal(dropped, want) {
		t.Fatalf("dropped %v, want %v", dropped, want)
	}
	for _, name := range []string{"rt_green", "rt_blue", "rt_green_prev_1", "rt_blue_prev_0", "rtother_blue_prev_1", "rt_refresh_copy_prev_00001"} {
		if !mustStatus(t, name).Exists {
			t.Errorf("%s was dropped", name)
		}
	}
	if dropped, err := DropCopies(ctx, admin(), "rt", []string{"rt_green", "rt_blue"}, 1); err != nil || len(dropped) != 0 {
		t.Errorf("second DropCopies dropped %v, %v", dropped, err)
	}
}

func TestMoveAsideKeepsTheDataAndTheMarker(t *testing.T) {
	ctx := context.Background()
	createDB(t, "mv_blue", "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
	mark(t, "mv_blue", postgres.Marker{Role: RoleCopy, For: "mv", Revision: "41"})
	want := mustSums(t, "mv_blue")
	client := connectTo(t, "mv_blue")
	moved, err := MoveAside(ctx, admin(), "mv_blue")
	if err != nil || !strings.HasPrefix(moved, "mv_blue_prev_") || len(moved) != len("mv_blue_prev_")+14 {
		t.Fatalf("MoveAside = %q, %v", moved, err)
	}
	if err := client.Ping(ctx); err == nil {
		t.Error("a session on the moved database survived")
	}
	sameSums(t, "moved database", mustSums(t, moved), want)
	if st := mustStatus(t, moved); st.Marker.Revision != "41" || st.Marker.For != "mv" {
		t.Errorf("marker after the move: %+v", st.Marker)
	}
	if st := mustStatus(t, "mv_blue"); st.Exists {
		t.Error("the old name still exists")
	}
	if again, err := MoveAside(ctx, admin(), "mv_blue"); err != nil || again != "" {
		t.Errorf("MoveAside of a missing database = %q, %v", again, err)
	}
}
