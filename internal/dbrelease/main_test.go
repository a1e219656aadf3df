package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
	"github.com/understudy-dev/understudy/test/poll"
)

// srv is the package's one throwaway PostgreSQL server.
var srv *pgtest.Server

func TestMain(m *testing.M) {
	// wal_level=logical: the replicated cutover is tested here too.
	pgtest.Main(m, &srv, pgtest.Options{Settings: map[string]string{"wal_level": "logical"}})
}

// admin is the operator's connection settings (maintenance database).
func admin() postgres.Conn { return srv.Conn("") }

// appSQL builds an application database: objects owned by an application
// role, odd identifiers, values COPY must escape, a view, a function and a
// sequence in use.
const appSQL = `
DO $$ BEGIN CREATE ROLE app_owner NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I OWNER TO app_owner', current_database()); END $$;
SET ROLE app_owner;
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, profile jsonb);
INSERT INTO users (email, profile) SELECT 'user' || i || '@example', jsonb_build_object('n', i, 's', 'a"b') FROM generate_series(1, 2000) i;
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int REFERENCES users, amount numeric(10,2), note text);
INSERT INTO orders (user_id, amount, note) SELECT 1 + i % 2000, i / 7.0,
  CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN E'tab\there\nnewline \\ backslash' ELSE 'quote '' here' END
  FROM generate_series(1, 5000) i;
CREATE SCHEMA billing;
CREATE TABLE billing."Invoice Lines" ("Line No" int, note text);
INSERT INTO billing."Invoice Lines" VALUES (1, 'x'), (2, NULL);
CREATE VIEW big_spenders AS SELECT user_id, sum(amount) AS total FROM orders GROUP BY user_id;
CREATE FUNCTION order_count(u int) RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orders WHERE user_id = u';
CREATE TABLE writes (id bigint PRIMARY KEY, at timestamptz DEFAULT now());
RESET ROLE;
`

// createDB creates name (dropping a leftover) and runs sql in it.
func createDB(t *testing.T, name, sql string) {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, admin(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := postgres.DropDatabase(ctx, c, name); err != nil {
		t.Fatal(err)
	}
	if err := postgres.CreateDatabase(ctx, c, name, "", postgres.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if sql != "" {
		execIn(t, name, sql)
	}
}

// execIn runs sql in db on a new session.
func execIn(t *testing.T, db, sql string, args ...any) {
	t.Helper()
	if err := tryExec(db, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func tryExec(db, sql string, args ...any) error {
	ctx := context.Background()
	c, err := postgres.Connect(ctx, srv.Conn(db), "test")
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql, args...)
	return err
}

// connectTo opens a client session on db, closed at the end of the test.
func connectTo(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	c, err := postgres.Connect(context.Background(), srv.Conn(db), "client")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// isReadOnly reports PostgreSQL's read_only_sql_transaction error.
func isReadOnly(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "25006"
}

func mustSums(t *testing.T, db string) map[string]string {
	t.Helper()
	s, err := srv.Checksums(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sameSums(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: table checksums differ\n got: %v\nwant: %v", what, got, want)
	}
}

func mustStatus(t *testing.T, db string) State {
	t.Helper()
	st, err := Status(context.Background(), admin(), db)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.True(t, what, 10*time.Millisecond, 10*time.Second, cond)
}

// mark sets a marker comment on db, as an earlier (interrupted) run of
// this package would have left it.
func mark(t *testing.T, db string, m postgres.Marker) {
	t.Helper()
	m.Tool = Tool
	execIn(t, "", "COMMENT ON DATABASE "+postgres.QuoteIdent(db)+" IS "+postgres.QuoteLiteral(m.Comment()))
}
