//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// prodRows is how many users production has; every tenth is deleted by the
// dev sanitize SQL.
const prodRows = 500

// startPostgres starts a throwaway PostgreSQL with a production database
// "service0" (prodRows users with real-looking e-mails), a dev database
// "service0_dev" (3 stale users) and a nightly backup of production written
// with pg_dump -Fc into the returned directory.
func startPostgres(t *testing.T) (*pgtest.Server, string) {
	t.Helper()
	ctx := context.Background()
	pg, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	psql(t, pg, "", "CREATE DATABASE service0", "CREATE DATABASE service0_dev")
	psql(t, pg, "service0",
		"CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)",
		"INSERT INTO users (email) SELECT 'person' || g || '@customer.example' FROM generate_series(1, "+strconv.Itoa(prodRows)+") g")
	psql(t, pg, "service0_dev",
		"CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)",
		"INSERT INTO users (email) VALUES ('a@dev.invalid'), ('b@dev.invalid'), ('c@dev.invalid')")
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, err := postgres.Command(ctx, "pg_dump", pg.Conn("service0"), os.Environ(), "e2e",
		"-Fc", "-f", filepath.Join(dir, "nightly-2026-11-26.dump"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	return pg, dir
}

// psql runs statements on db as the superuser.
func psql(t *testing.T, pg *pgtest.Server, db string, stmts ...string) {
	t.Helper()
	if err := pg.Exec(context.Background(), db, stmts...); err != nil {
		t.Fatal(err)
	}
}

// queryInt runs a query returning one integer on db.
func queryInt(t *testing.T, pg *pgtest.Server, db, q string) int64 {
	t.Helper()
	n, err := pg.QueryInt(context.Background(), db, q)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// adminSecret is the dev admin's connection Secret (keys host, port,
// username, password, sslmode), created in the cluster at run time.
func adminSecret(t *testing.T, ns, name string, pg *pgtest.Server) {
	t.Helper()
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		StringData: map[string]string{"host": pg.Host, "port": strconv.Itoa(pg.Port),
			"username": pg.User, "password": pg.Password, "sslmode": "disable"},
	}
	if _, err := env.Client.CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
