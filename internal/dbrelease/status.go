package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// State is what the server says about one color's database.
type State struct {
	Name   string
	Exists bool
	// OID identifies this incarnation of the database: a database dropped
	// and made again under the same name has another, and its counters
	// start over.
	OID   uint32
	Owner string
	// Marker is this package's marker; Marked is false for a database
	// that does not carry one (adopted, or not ours).
	Marker postgres.Marker
	Marked bool
	// Frozen: new sessions are read-only; FrozenSince is when Freeze did it.
	Frozen      bool
	FrozenSince time.Time
	// AllowConnections is false while a Template copy reads it.
	AllowConnections bool
	// CopyingTo names the copy being made from this database, if any.
	CopyingTo string
	// StatsReset is when the database's statistics were last reset
	// (pg_stat_reset): its table counters start over then.
	StatsReset time.Time
	// Rows is how many rows the database's user tables have had
	// inserted, updated and deleted (see WritesSince); read only by
	// ReadRows, which needs a session on the database itself: RowsRead
	// says whether it was.
	Rows     int64
	RowsRead bool
}

// Complete reports whether the database is one of this package's finished
// databases (a complete copy, or the initial one).
func (s State) Complete() bool {
	return s.Marked && (s.Marker.Role == RoleCopy || s.Marker.Role == RoleInitial)
}

// Status reads db's state; a missing database is a State with Exists
// false, not an error.
func Status(ctx context.Context, admin postgres.Conn, db string) (State, error) {
	all, err := Statuses(ctx, admin, db)
	return all[db], err
}

// Statuses reads the state of each named database over one connection.
func Statuses(ctx context.Context, admin postgres.Conn, names ...string) (map[string]State, error) {
	out := make(map[string]State, len(names))
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		for _, name := range names {
			if _, done := out[name]; done || name == "" {
				continue
			}
			st, err := statusOn(ctx, c, name)
			if err != nil {
				return err
			}
			out[name] = st
		}
		return nil
	})
	return out, err
}

func statusOn(ctx context.Context, c *pgx.Conn, db string) (State, error) {
	st := State{Name: db}
	d, err := lookup(ctx, c, db)
	if errors.Is(err, postgres.ErrNoDatabase) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.Exists, st.OID, st.Owner, st.AllowConnections = true, d.OID, d.Owner, d.AllowConnections
	st.Marker, st.Marked = d.marker()
	st.Frozen = d.readOnly()
	if st.Frozen {
		st.FrozenSince = d.frozenSince()
	}
	st.CopyingTo = d.copyingTo()
	return st, nil
}

// CopyOf reports whether s is a copy of from made for revision after from
// was frozen at frozenSince (complete, or still being made).
func (s State) CopyOf(from, revision string, frozenSince time.Time) bool {
	if !s.Exists || !s.Marked || s.Marker.Source != from || s.Marker.Revision != revision {
		return false
	}
	return s.Unfinished() || s.Marker.Role == RoleCopy && !s.Marker.CreatedAt.Before(frozenSince)
}

// Unfinished reports whether s is a copy being made, or prepared for one.
func (s State) Unfinished() bool { return s.Marked && unfinished(s.Marker.Role) }

func unfinished(role string) bool {
	return role == RoleCopying || role == RolePrepared || role == RoleReplica
}

// RehearsalOf reports whether s is a complete rehearsal copy of from made
// for revision.
func (s State) RehearsalOf(from, revision string) bool {
	return s.Exists && s.Marked && s.Marker.Role == RoleRehearsal && s.Marker.Source == from && s.Marker.Revision == revision
}

// ReadRows reads into st how many rows its database's user tables have had
// inserted, updated and deleted (pg_stat_user_tables: the system catalogs,
// which ANALYZE, VACUUM and DDL write to, and TOAST tables are not
// counted), with the database's OID and statistics reset time read in the
// same session, so the three belong together.
func ReadRows(ctx context.Context, admin postgres.Conn, st *State) error {
	c, err := postgres.Connect(ctx, admin.WithDatabase(st.Name), Tool)
	if err != nil {
		return fmt.Errorf("cannot count the rows written to database %q: %w", st.Name, err)
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	var reset *time.Time
	err = c.QueryRow(ctx, `SELECT d.datid, d.stats_reset,
		(SELECT coalesce(sum(t.n_tup_ins + t.n_tup_upd + t.n_tup_del), 0)::bigint FROM pg_catalog.pg_stat_user_tables t)
		FROM pg_catalog.pg_stat_database d WHERE d.datname = pg_catalog.current_database()`).Scan(&st.OID, &reset, &st.Rows)
	if err != nil {
		return fmt.Errorf("cannot count the rows written to database %q: %w", st.Name, err)
	}
	st.StatsReset, st.RowsRead = time.Time{}, true
	if reset != nil {
		st.StatsReset = reset.UTC()
	}
	return nil
}

// Writes is what an application wrote to a database between two
// readings of ReadRows.
type Writes struct {
	// Rows is the growth of rows inserted, updated and deleted in the
	// database's user tables; zero means the application wrote nothing.
	// Rows of transactions that rolled back count too (PostgreSQL counts
	// attempted writes): an upper bound on what was committed.
	// There is no count of transactions: the server's commit counter
	// (pg_stat_database.xact_commit) also counts autovacuum's, ANALYZE's
	// (one per table), the operator's and read-only ones, and none of
	// them can be told from the application's.
	Rows int64
	// Known is false when either reading has no row count (the baseline
	// could not be read at the switch): then Rows means nothing.
	Known bool
	// Exact is false when the counters cannot be compared: another
	// incarnation of the database, or its statistics were reset since the
	// baseline (then Rows counts from the reset: a lower bound).
	Exact bool
}

// WritesSince compares a baseline (read at the switch) with a later
// reading, for writesSinceSwitch. Both must come from ReadRows.
//
// The table counters are cumulative; each session reports its counts when
// its transaction ends, at most about once a second, and when it exits, so
// a reading lags live sessions by up to a second or so (after a Freeze,
// which ends the sessions that could write, nothing is missing). They
// survive a clean restart but are reset by a crash (recovery) or
// pg_stat_reset(): then Exact is false.
func WritesSince(baseline, now State) Writes {
	if !baseline.RowsRead || !now.RowsRead {
		return Writes{}
	}
	w := Writes{Rows: now.Rows - baseline.Rows, Known: true, Exact: true}
	if baseline.OID != now.OID || !baseline.StatsReset.Equal(now.StatsReset) || w.Rows < 0 {
		w = Writes{Rows: now.Rows, Known: true}
	}
	return w
}
