package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// Database names, roles and sizes of the demo.
const (
	// prodDB is production's database, made before its SiteDeployment
	// exists; the site (spec.database.name service0) adopts it, as a site
	// moved to understudy would.
	prodDB   = "service0"
	devDB    = "service0_dev"
	prodRows = 1000
	// prodApp and devApp are the roles the sites' pods connect as (the
	// admin role could lift a write freeze for its own sessions); each
	// owns its site's tables, so the migration may alter them.
	prodApp = "service0_app"
	devApp  = "service0_dev_app"
)

// usersTable is the demo sites' table: demo-site counts its rows and its
// POST /items inserts a note (email and active take their defaults).
const usersTable = `CREATE TABLE users (id serial PRIMARY KEY,
	email text NOT NULL DEFAULT 'anonymous@example.invalid', active boolean NOT NULL DEFAULT true, note text)`

// appRoles are the application roles' passwords, generated per demo.
type appRoles map[string]string

func newAppRoles() appRoles {
	return appRoles{prodApp: randomHex(), devApp: randomHex()}
}

func randomHex() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// create is the SQL that creates the roles (hex passwords need no quoting).
func (r appRoles) create() []string {
	var stmts []string
	for role, pw := range r {
		stmts = append(stmts, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, pw))
	}
	return stmts
}

// startDatabase starts PostgreSQL on loopback with the application roles,
// production (prodRows users, every tenth inactive), a stale dev database
// and last night's backup of production in backupDir.
func startDatabase(ctx context.Context, backupDir string, roles appRoles) (*pgtest.Server, error) {
	// wal_level=logical: production cuts over by replication (10-prod-site.yaml).
	pg, err := pgtest.Start(pgtest.Options{Settings: map[string]string{"wal_level": "logical"}})
	if err != nil {
		return nil, err
	}
	steps := []struct {
		db    string
		stmts []string
	}{
		{"", append(roles.create(), "CREATE DATABASE "+prodDB, "CREATE DATABASE "+devDB)},
		{prodDB, []string{
			usersTable, "ALTER TABLE users OWNER TO " + prodApp,
			fmt.Sprintf("INSERT INTO users (email, active) SELECT 'customer' || g || '@mail.example', g %% 10 <> 0 FROM generate_series(1, %d) g", prodRows),
		}},
		{devDB, []string{
			usersTable, "ALTER TABLE users OWNER TO " + devApp,
			"INSERT INTO users (email, active) VALUES ('old-a@example.invalid', true), ('old-b@example.invalid', true)",
		}},
	}
	for _, s := range steps {
		if err := pg.Exec(ctx, s.db, s.stmts...); err != nil {
			pg.Stop()
			return nil, err
		}
	}
	if err := backup(ctx, pg, backupDir); err != nil {
		pg.Stop()
		return nil, err
	}
	return pg, nil
}

// backup writes production's nightly backup (pg_dump -Fc) into dir.
func backup(ctx context.Context, pg *pgtest.Server, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(dir, "nightly-"+time.Now().UTC().Format("2006-01-02")+".dump")
	cmd, err := postgres.Command(ctx, "pg_dump", pg.Conn(prodDB), os.Environ(), "demo", "-Fc", "-f", file)
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot back up production: %w\n%s", err, out)
	}
	return nil
}
