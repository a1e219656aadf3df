package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// srv is the package's one throwaway PostgreSQL server.
var srv *pgtest.Server

func TestMain(m *testing.M) {
	pgtest.Main(m, &srv, pgtest.Options{}, stopSeaweed, stopProduction, func() {
		for _, dir := range []string{fixture.dir, shopDir} {
			if dir != "" {
				_ = os.RemoveAll(dir)
			}
		}
	})
}

// sourceSQL builds the source database: odd identifiers, every kind of
// value COPY must escape, NULLs, a view, a function, a foreign key, and
// objects owned by a production role that the copies must not keep.
const sourceSQL = `
DO $$ BEGIN CREATE ROLE prod_owner NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE dev_owner NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I OWNER TO prod_owner', current_database()); END $$;
SET ROLE prod_owner;
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, profile jsonb, created timestamptz DEFAULT '2026-01-01');
INSERT INTO users (email, profile) SELECT 'user' || i || '@prod.example', jsonb_build_object('n', i, 's', 'a"b') FROM generate_series(1, 2000) i;
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int REFERENCES users, amount numeric(10,2), note text);
INSERT INTO orders (user_id, amount, note) SELECT 1 + i % 2000, i / 7.0,
  CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN E'tab\there\nnewline \\ backslash' WHEN 2 THEN 'quote '' here' ELSE 'plain' END
  FROM generate_series(1, 5000) i;
CREATE SCHEMA billing;
CREATE TABLE billing."Invoice Lines" ("Line No" int, "ALTER x OWNER TO y;" text);
INSERT INTO billing."Invoice Lines" VALUES (1, 'ALTER TABLE t OWNER TO nobody;'), (2, NULL);
CREATE VIEW big_spenders AS SELECT user_id, sum(amount) AS total FROM orders GROUP BY user_id HAVING sum(amount) > 1000;
CREATE FUNCTION order_count(u int) RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orders WHERE user_id = u';
RESET ROLE;
`

// fixture is the source database dumped once in every format.
type fixtureDumps struct {
	dir      string
	sums     map[string]string
	dumpedAt time.Time
}

var (
	fixtureOnce sync.Once
	fixture     fixtureDumps
	fixtureErr  error
)

// dumps creates database "src" and dumps it into one directory as
// src.custom, src.dir, src.sql and src.sql.gz.
func dumps(t *testing.T) fixtureDumps {
	t.Helper()
	fixtureOnce.Do(func() {
		fixture.dir, fixtureErr = os.MkdirTemp("", "refresh-dumps-")
		if fixtureErr != nil {
			return
		}
		if fixtureErr = createDB("src", sourceSQL); fixtureErr != nil {
			return
		}
		fixture.dumpedAt = time.Now()
		for _, args := range [][]string{{"-Fc", "-f", "src.custom"}, {"-Fd", "-f", "src.dir"}, {"-Fp", "-f", "src.sql"}} {
			if fixtureErr = pgDump("src", filepath.Join(fixture.dir, args[2]), args[0]); fixtureErr != nil {
				return
			}
		}
		if out, err := exec.Command("sh", "-c", "cd "+fixture.dir+" && gzip -c src.sql > src.sql.gz").CombinedOutput(); err != nil {
			fixtureErr = fmt.Errorf("gzip: %v %s", err, out)
		}
		fixture.sums, fixtureErr = checksums(context.Background(), "src")
	})
	if fixtureErr != nil {
		t.Fatalf("cannot build the source fixture: %v", fixtureErr)
	}
	return fixture
}

func createDB(name, sql string) error { return createDBOn(srv, name, sql) }

// createDBOn creates database name on s and runs sql in it.
func createDBOn(s *pgtest.Server, name, sql string) error {
	ctx := context.Background()
	admin, err := postgres.Connect(ctx, s.Conn(""), "test")
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if err := postgres.CreateDatabase(ctx, admin, name, "", postgres.CreateOptions{}); err != nil {
		return err
	}
	c, err := postgres.Connect(ctx, s.Conn(name), "test")
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

func pgDump(db, path string, args ...string) error {
	cmd, err := postgres.Command(context.Background(), "pg_dump", srv.Conn(db), os.Environ(), "test", append(args, "-f", path)...)
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_dump: %v: %s", err, out)
	}
	return nil
}

// checksums returns "rows:md5 of the ordered rows" for every table of db.
func checksums(ctx context.Context, db string) (map[string]string, error) {
	return srv.Checksums(ctx, db)
}

func mustChecksums(t *testing.T, db string) map[string]string {
	t.Helper()
	s, err := checksums(context.Background(), db)
	if err != nil {
		t.Fatalf("checksums of %s: %v", db, err)
	}
	return s
}

func sameSums(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: table checksums differ\n got: %v\nwant: %v", what, got, want)
	}
}

// databases lists the server's database names starting with prefix.
func databases(t *testing.T, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, srv.Conn(""), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	dbs, err := postgres.ListDatabases(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dbs {
		if strings.HasPrefix(d.Name, prefix) {
			names = append(names, d.Name)
		}
	}
	sort.Strings(names)
	return names
}

// opts are the options of a backup refresh of target from the fixture file
// matching pattern.
func opts(t *testing.T, target, pattern string) Options {
	return Options{
		TargetDB: target, KeepPrevious: 1, Jobs: 2,
		BackupDir: dumps(t).dir, Pattern: pattern,
		ScratchDir: t.TempDir(),
		Target:     srv.Conn(""),
		Stderr:     testWriter{t},
		Log:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
}

func mustRun(t *testing.T, o Options) Result {
	t.Helper()
	res := Run(context.Background(), o)
	if res.Result != Succeeded {
		t.Fatalf("refresh of %s failed: %s", o.TargetDB, res.Error)
	}
	return res
}

// testWriter sends the PostgreSQL programs' messages to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func exec1(t *testing.T, db, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, srv.Conn(db), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
