package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &srv, pgtest.Options{}) }

func TestQuotingRoundTripsThroughTheServer(t *testing.T) {
	ctx := context.Background()
	c, err := Connect(ctx, srv.Conn(""), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, s := range []string{`plain`, `with "quotes"`, `it's`, `back\slash`, `a'b\c"d; DROP DATABASE postgres; --`} {
		var got string
		if err := c.QueryRow(ctx, "SELECT "+QuoteLiteral(s)).Scan(&got); err != nil || got != s {
			t.Errorf("literal %q came back as %q (%v)", s, got, err)
		}
		name := "db " + s
		if len(name) > 63 {
			name = name[:63]
		}
		if err := CreateDatabase(ctx, c, name, "comment "+s, CreateOptions{}); err != nil {
			t.Fatalf("create %q: %v", name, err)
		}
		d, err := GetDatabase(ctx, c, name)
		if err != nil || d.Comment != "comment "+s {
			t.Errorf("database %q: %+v %v", name, d, err)
		}
		if err := DropDatabase(ctx, c, name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	m := Marker{Tool: "understudy-refresh", Role: "side", For: "app_dev", Source: "x.dump", CreatedAt: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	got, ok := ParseMarker("understudy-refresh", m.Comment())
	if !ok || got != m {
		t.Fatalf("ParseMarker(%q) = %+v, %v", m.Comment(), got, ok)
	}
	for _, c := range []string{"", "understudy-refresh", "understudy-refresh:not json", "other:" + strings.TrimPrefix(m.Comment(), "understudy-refresh:"), "prod database"} {
		if _, ok := ParseMarker("understudy-refresh", c); ok {
			t.Errorf("ParseMarker accepted %q", c)
		}
	}
}

func TestRenameAndSessions(t *testing.T) {
	ctx := context.Background()
	admin, err := Connect(ctx, srv.Conn(""), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if err := CreateDatabase(ctx, admin, "busy_one", "", CreateOptions{Template: "template0"}); err != nil {
		t.Fatal(err)
	}
	held, err := Connect(ctx, srv.Conn("busy_one"), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(ctx)
	if err := SetAllowConnections(ctx, admin, "busy_one", false); err != nil {
		t.Fatal(err)
	}
	if c, err := Connect(ctx, srv.Conn("busy_one"), "test"); err == nil {
		c.Close(ctx)
		t.Error("a new connection got in while connections were refused")
	}
	if n, err := TerminateSessions(ctx, admin, "busy_one"); err != nil || n != 1 {
		t.Fatalf("TerminateSessions = %d, %v", n, err)
	}
	if n, err := WaitNoSessions(ctx, admin, "busy_one", 5*time.Second); err != nil || n != 0 {
		t.Fatalf("WaitNoSessions = %d, %v", n, err)
	}
	if err := RenameDatabase(ctx, admin, "busy_one", "busy_two"); err != nil {
		t.Fatal(err)
	}
	dbs, err := ListDatabases(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(dbs, func(d Database) bool { return d.Name == "busy_two" })
	if i < 0 || dbs[i].AllowConnections || dbs[i].Owner != srv.User {
		t.Fatalf("after rename: %+v", dbs)
	}
	if err := DropDatabase(ctx, admin, "busy_two"); err != nil {
		t.Fatal(err)
	}
	if _, err := GetDatabase(ctx, admin, "busy_two"); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("after drop: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	names := EnvNames{Host: "H", Port: "P", User: "U", Password: "W", SSLMode: "S"}
	env := map[string]string{"H": "db.example", "U": "admin", "W": "s3cret"}
	c, err := FromEnv(func(k string) string { return env[k] }, names)
	if err != nil || c.Port != 5432 || c.SSLMode != "prefer" || c.Password != "s3cret" {
		t.Fatalf("FromEnv = %+v, %v", c, err)
	}
	if strings.Contains(c.String(), "s3cret") {
		t.Error("String shows the password")
	}
	env["P"] = "nope"
	if _, err := FromEnv(func(k string) string { return env[k] }, names); err == nil {
		t.Error("a bad port was accepted")
	}
	delete(env, "H")
	if _, err := FromEnv(func(k string) string { return env[k] }, names); err == nil || !strings.Contains(err.Error(), "H") {
		t.Errorf("missing host: %v", err)
	}
}

func TestSameDatabase(t *testing.T) {
	a := Conn{Host: "localhost", Port: 5432, Database: "app"}
	for _, tc := range []struct {
		b    Conn
		same bool
	}{
		{Conn{Host: "127.0.0.1", Database: "app"}, true},
		{Conn{Host: "LOCALHOST.", Port: 5432, Database: "app"}, true},
		{Conn{Host: "127.0.0.1", Port: 5433, Database: "app"}, false},
		{Conn{Host: "127.0.0.1", Database: "app_dev"}, false},
		{Conn{Host: "replica", Database: "app"}, false},
	} {
		if got := SameDatabase(a, tc.b); got != tc.same {
			t.Errorf("SameDatabase(%v, %v) = %v", a, tc.b, got)
		}
	}
}

func TestChildEnvCarriesThePasswordOnlyInPGPASSWORD(t *testing.T) {
	env := ChildEnv([]string{"PATH=/bin", "PGPASSWORD=stale", "PGHOST=elsewhere"}, Conn{Host: "h", User: "u", Password: "pw"}, "app")
	want := []string{"PATH=/bin", "PGHOST=h", "PGPORT=5432", "PGUSER=u", "PGDATABASE=postgres", "PGCONNECT_TIMEOUT=10", "PGPASSWORD=pw", "PGAPPNAME=app"}
	if !slices.Equal(env, want) {
		t.Errorf("ChildEnv = %v, want %v", env, want)
	}
}

func TestCopyDatabaseSettingsKeepsListsRolesAndSkips(t *testing.T) {
	ctx := context.Background()
	c, err := Connect(ctx, srv.Conn(""), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, s := range []string{
		"CREATE DATABASE set_src", "CREATE DATABASE set_dst", "CREATE ROLE set_app",
		`ALTER DATABASE set_src SET search_path = "$user", public, "My Schema"`,
		"ALTER DATABASE set_src SET work_mem = '64MB'",
		"ALTER DATABASE set_src SET understudy.frozen_since = '2026-11-27T10:00:00Z'",
		"ALTER ROLE set_app IN DATABASE set_src SET statement_timeout = '5s'",
	} {
		if _, err := c.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	skip := func(name string) bool { return strings.HasPrefix(name, "understudy.") }
	if err := CopyDatabaseSettings(ctx, c, "set_src", "set_dst", skip); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(ctx, `SELECT CASE WHEN s.setrole = 0 THEN '' ELSE pg_get_userbyid(s.setrole) END || ':' || array_to_string(s.setconfig, '|')
		FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'set_dst' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		got = append(got, s)
	}
	want := []string{`:search_path="$user", public, "My Schema"|work_mem=64MB`, "set_app:statement_timeout=5s"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("settings of the copy:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
