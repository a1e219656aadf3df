package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// Tool is the marker tool of the databases this package creates and the
// application_name of its sessions.
const Tool = "understudy-dbrelease"

// Database-wide settings (ALTER DATABASE ... SET) this package keeps its
// state in. Settings, unlike the comment, leave an adopted database's own
// comment alone, and a freeze and its time are read in one query.
const (
	settingReadOnly    = "default_transaction_read_only"
	settingFrozenSince = "understudy.frozen_since"
	settingCopyingTo   = "understudy.copying_to"
)

// maxNameLen is PostgreSQL's identifier limit (NAMEDATALEN - 1); longer
// names are truncated silently, so they are refused here.
const maxNameLen = 63

// sessionTimeout bounds waiting for ended sessions to go.
const sessionTimeout = 15 * time.Second

// dbInfo is one database as the catalog describes it, with its
// database-wide settings.
type dbInfo struct {
	postgres.Database
	OID      uint32
	settings map[string]string
}

func (d dbInfo) readOnly() bool {
	switch strings.ToLower(d.settings[settingReadOnly]) {
	case "on", "true", "yes", "1":
		return true
	}
	return false
}

func (d dbInfo) frozenSince() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, d.settings[settingFrozenSince])
	return t
}

func (d dbInfo) copyingTo() string { return d.settings[settingCopyingTo] }

func (d dbInfo) marker() (postgres.Marker, bool) { return postgres.ParseMarker(Tool, d.Comment) }

// lookup returns name's catalog entry; postgres.ErrNoDatabase when missing.
func lookup(ctx context.Context, q postgres.Querier, name string) (dbInfo, error) {
	d := dbInfo{Database: postgres.Database{Name: name}, settings: map[string]string{}}
	var config []string
	err := q.QueryRow(ctx, `SELECT d.oid, pg_catalog.pg_get_userbyid(d.datdba),
		coalesce(pg_catalog.shobj_description(d.oid, 'pg_database'), ''), d.datallowconn,
		coalesce((SELECT s.setconfig FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0), '{}')
		FROM pg_catalog.pg_database d WHERE d.datname = $1`, name).Scan(&d.OID, &d.Owner, &d.Comment, &d.AllowConnections, &config)
	if errors.Is(err, pgx.ErrNoRows) {
		return dbInfo{}, fmt.Errorf("database %q: %w", name, postgres.ErrNoDatabase)
	}
	if err != nil {
		return dbInfo{}, fmt.Errorf("cannot look up database %q: %w", name, err)
	}
	for _, kv := range config {
		if k, v, ok := strings.Cut(kv, "="); ok {
			d.settings[k] = v
		}
	}
	return d, nil
}

// setSetting sets (or, with value "", resets) one database-wide setting.
// The name is one of this package's constants, never user input.
func setSetting(ctx context.Context, q postgres.Querier, db, name, value string) error {
	sql := "ALTER DATABASE " + postgres.QuoteIdent(db) + " RESET " + name
	if value != "" {
		sql = "ALTER DATABASE " + postgres.QuoteIdent(db) + " SET " + name + " = " + postgres.QuoteLiteral(value)
	}
	if _, err := q.Exec(ctx, sql); err != nil {
		return fmt.Errorf("cannot set %s of database %q: %w", name, db, err)
	}
	return nil
}

// connect opens an admin session on the maintenance database, never on one
// of the databases it works on (a session there would block a copy).
func connect(ctx context.Context, admin postgres.Conn) (*pgx.Conn, error) {
	return postgres.Connect(ctx, admin.WithDatabase(""), Tool)
}

// withAdmin runs fn on a fresh admin session.
func withAdmin(ctx context.Context, admin postgres.Conn, fn func(*pgx.Conn) error) error {
	c, err := connect(ctx, admin)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	return fn(c)
}

// serverNow is the server's clock: every time this package records is
// compared with the server's own (backend_start, marker times).
func serverNow(ctx context.Context, q postgres.Querier) (time.Time, error) {
	var t time.Time
	if err := q.QueryRow(ctx, "SELECT pg_catalog.clock_timestamp()").Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("cannot read the server's clock: %w", err)
	}
	return t.UTC(), nil
}

// endSessionsBefore ends the client sessions of db that started before
// cutoff (they may carry settings from before it) and waits until they are
// gone. Sessions started later are left alone.
func endSessionsBefore(ctx context.Context, q postgres.Querier, db string, cutoff time.Time) (int, error) {
	deadline := time.Now().Add(sessionTimeout)
	ended := 0
	for {
		var signalled, left int
		err := q.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid)), count(*)
			FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()
			AND backend_type = 'client backend' AND backend_start < $2`, db, cutoff).Scan(&signalled, &left)
		if err != nil {
			return ended, fmt.Errorf("cannot end the sessions on database %q: %w", db, err)
		}
		if ended == 0 {
			ended = signalled
		}
		if left == 0 {
			return ended, nil
		}
		if time.Now().After(deadline) {
			return ended, fmt.Errorf("cannot end the sessions on database %q: %d still connected after %s", db, left, sessionTimeout)
		}
		select {
		case <-ctx.Done():
			return ended, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
