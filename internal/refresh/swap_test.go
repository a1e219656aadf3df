package refresh

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
)

func TestKeepPreviousDropsOnlyMarkedOldCopies(t *testing.T) {
	t.Parallel()
	const target = "keep"
	// Not the runner's: a "_prev_" name without the marker, and one with
	// another tool's comment. Neither may ever be dropped.
	for _, name := range []string{"keep_prev_20000101000000", "keep_prev_20000101000001"} {
		if err := createDB(name, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	exec1(t, "", `COMMENT ON DATABASE keep_prev_20000101000001 IS 'someone-else:{"for":"keep"}'`)
	var results []Result
	for i := 0; i < 3; i++ {
		results = append(results, mustRun(t, opts(t, target, "src.custom")))
	}
	got := databases(t, "keep")
	var ours []string
	for _, n := range got {
		if strings.HasPrefix(n, "keep_prev_2026") || (strings.HasPrefix(n, "keep_prev_") && !strings.HasPrefix(n, "keep_prev_2000")) {
			ours = append(ours, n)
		}
	}
	if len(ours) != 1 || ours[0] != results[2].Previous {
		t.Fatalf("after 3 refreshes with keepPrevious 1: copies %v (all: %v), want only %s", ours, got, results[2].Previous)
	}
	if !slices.Contains(got, "keep_prev_20000101000000") || !slices.Contains(got, "keep_prev_20000101000001") {
		t.Fatalf("a database without the marker was dropped: %v", got)
	}
	if len(results[2].Dropped) != 1 || results[2].Dropped[0] != results[1].Previous {
		t.Errorf("third refresh dropped %v, want [%s]", results[2].Dropped, results[1].Previous)
	}
	// keepPrevious 0 drops the runner's copies but still nothing else.
	o := opts(t, target, "src.custom")
	o.KeepPrevious = 0
	mustRun(t, o)
	if got := databases(t, "keep"); !slices.Equal(got, []string{"keep", "keep_prev_20000101000000", "keep_prev_20000101000001"}) {
		t.Errorf("with keepPrevious 0: %v", got)
	}
}

func TestOpenSessionsDoNotBlockTheSwap(t *testing.T) {
	t.Parallel()
	const target = "busy"
	mustRun(t, opts(t, target, "src.custom"))
	// Only some roles may connect to dev: the copy must keep that.
	exec1(t, "", "REVOKE ALL ON DATABASE busy FROM PUBLIC; GRANT CONNECT ON DATABASE busy TO dev_owner")
	// And its database-wide settings.
	exec1(t, "", "ALTER DATABASE busy SET work_mem = '7MB'")
	ctx := context.Background()
	idle := connect(t, target)
	inTx := connect(t, target)
	tx, err := inTx.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE users SET email = email WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := mustRun(t, opts(t, target, "src.dir"))
	if res.UnavailableMs >= 1000 || res.Previous == "" {
		t.Errorf("unavailable %d ms (want < 1000), previous %q", res.UnavailableMs, res.Previous)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("the refresh waited for the sessions: %v", time.Since(start))
	}
	if err := idle.Ping(ctx); err == nil {
		t.Error("the idle session on the old target survived the swap")
	}
	sameSums(t, "new target", mustChecksums(t, target), dumps(t).sums)
	var acl string
	if err := connect(t, "").QueryRow(ctx, "SELECT datacl::text FROM pg_database WHERE datname = $1", target).Scan(&acl); err != nil ||
		!strings.Contains(acl, "dev_owner=c/") || strings.Contains(acl, "{=") || strings.Contains(acl, ",=") {
		t.Errorf("privileges of the new target = %s (%v), want CONNECT for dev_owner only (plus the owner)", acl, err)
	}
	var workMem string
	if err := connect(t, target).QueryRow(ctx, "SHOW work_mem").Scan(&workMem); err != nil || workMem != "7MB" {
		t.Errorf("the new target's work_mem is %q (%v), want the old target's database setting", workMem, err)
	}
	// The previous copy takes connections (for a rollback).
	if _, err := checksums(ctx, res.Previous); err != nil {
		t.Errorf("previous copy not usable: %v", err)
	}
}

func TestSelfTargetIsRefused(t *testing.T) {
	t.Parallel()
	o := opts(t, "self", "")
	o.BackupDir, o.Pattern = "", ""
	o.SourceDB = "self"
	o.Source = srv.Conn("")
	o.Source.Host = "localhost" // the same server spelled differently
	res := Run(context.Background(), o)
	if res.Result != Failed || !strings.Contains(res.Error, "from itself") {
		t.Fatalf("result = %+v, want a refusal", res)
	}
}

func TestAnUnmarkedSideDatabaseIsNeverDropped(t *testing.T) {
	t.Parallel()
	if err := createDB("notmine_refresh", "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), opts(t, "notmine", "src.custom"))
	if res.Result != Failed || !strings.Contains(res.Error, "not created by the refresh runner") {
		t.Fatalf("result = %+v, want a refusal", res)
	}
	if got := mustChecksums(t, "notmine_refresh"); got[`"public"."precious"`] == "" {
		t.Fatalf("notmine_refresh changed: %v", got)
	}
}

func TestLiveSourceDump(t *testing.T) {
	t.Parallel()
	d := dumps(t)
	o := opts(t, "live", "")
	o.BackupDir, o.Pattern, o.SourceDB = "", "", "src"
	o.Source = srv.Conn("")
	before := time.Now().Add(-time.Second)
	res := mustRun(t, o)
	sameSums(t, "live copy", mustChecksums(t, "live"), d.sums)
	if res.Source != "database src" || res.DataTakenAt == nil || res.DataTakenAt.Before(before) {
		t.Errorf("result = %+v", res)
	}
	if _, ok := res.DurationsMs["dump"]; !ok {
		t.Errorf("no dump duration: %v", res.DurationsMs)
	}
	if left, _ := postgres.FindTool("pg_dump"); left == "" {
		t.Fatal("pg_dump not found")
	}
}
