package refresh

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

func TestEveryDumpFormatRestoresAnEqualCopy(t *testing.T) {
	t.Parallel()
	d := dumps(t)
	for _, tc := range []struct{ name, pattern string }{
		{"custom", "src.custom"}, {"directory", "src.dir"}, {"plain", "src.sql"}, {"plainGzip", "src.sql.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "fmt_" + strings.ToLower(tc.name)
			o := opts(t, target, tc.pattern)
			o.Owner = "dev_owner"
			res := mustRun(t, o)
			sameSums(t, "copy vs source", mustChecksums(t, target), d.sums)
			if res.Source != tc.pattern || res.Bytes <= 0 || res.DataTakenAt == nil || res.Target != target {
				t.Errorf("result = %+v", res)
			}
			if age := time.Since(*res.DataTakenAt); age < -time.Second || age > time.Minute {
				t.Errorf("dataTakenAt %v is not when the dump was taken (%v)", res.DataTakenAt, d.dumpedAt)
			}
			if got := databases(t, target); len(got) != 1 {
				t.Errorf("databases after a first refresh: %v, want only the target", got)
			}
			assertOwnedBy(t, target, "dev_owner")
			assertMarked(t, target)
		})
	}
}

func assertOwnedBy(t *testing.T, db, owner string) {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, srv.Conn(db), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var others []string
	rows, _ := c.Query(ctx, `SELECT c.relname || ' owned by ' || pg_get_userbyid(c.relowner) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'billing') AND c.relkind IN ('r', 'v', 'S') AND pg_get_userbyid(c.relowner) <> $1`, owner)
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		others = append(others, s)
	}
	if rows.Err() != nil || len(others) > 0 {
		t.Errorf("objects not owned by %s: %v %v", owner, others, rows.Err())
	}
	d, err := postgres.GetDatabase(ctx, c, db)
	if err != nil || d.Owner != owner {
		t.Errorf("database %s owned by %q (%v), want %s", db, d.Owner, err, owner)
	}
}

func assertMarked(t *testing.T, db string) {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, srv.Conn(""), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	d, err := postgres.GetDatabase(ctx, c, db)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := postgres.ParseMarker(Tool, d.Comment); !ok || m.Role != "copy" {
		t.Errorf("comment of %s = %q, want the runner's marker", db, d.Comment)
	}
}

func TestSanitizeFilesRunInFileNameOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// 10-... must run after 02-...: it relies on the table 02 created.
	files := map[string]string{
		"02-emails.sql": "CREATE TABLE scrub_log (step int); UPDATE users SET email = 'dev+' || id || '@example.invalid'; INSERT INTO scrub_log VALUES (2);",
		"10-orders.sql": "UPDATE orders SET note = NULL; INSERT INTO scrub_log VALUES (10);",
		"README.md":     "not SQL: ignored",
	}
	for name, sql := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := opts(t, "sanitized", "src.custom")
	o.SanitizeDir = dir
	mustRun(t, o)
	var bad, notes int
	var ordered bool
	c := connect(t, "sanitized")
	_ = c.QueryRow(context.Background(), "SELECT count(*) FILTER (WHERE email NOT LIKE 'dev+%@example.invalid') FROM users").Scan(&bad)
	_ = c.QueryRow(context.Background(), "SELECT count(note) FROM orders").Scan(&notes)
	_ = c.QueryRow(context.Background(), "SELECT string_agg(step::text, ',' ORDER BY step) = '2,10' FROM scrub_log").Scan(&ordered)
	if bad != 0 || notes != 0 || !ordered {
		t.Errorf("sanitize not applied in order: %d unsanitised emails, %d notes, ordered %v", bad, notes, ordered)
	}
}

func connect(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	c, err := postgres.Connect(context.Background(), srv.Conn(db), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
