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
	// Counters from pg_stat_database (see WritesSince).
	XactCommit    int64
	TuplesWritten int64
	StatsReset    time.Time
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
	var reset *time.Time
	err = c.QueryRow(ctx, `SELECT coalesce(xact_commit, 0), coalesce(tup_inserted + tup_updated + tup_deleted, 0), stats_reset
		FROM pg_catalog.pg_stat_database WHERE datid = $1`, d.OID).Scan(&st.XactCommit, &st.TuplesWritten, &reset)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("cannot read the statistics of database %q: %w", db, err)
	}
	if reset != nil {
		st.StatsReset = reset.UTC()
	}
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

// Writes is what a database committed between two Status readings.
type Writes struct {
	// Transactions is the growth of xact_commit: every committed
	// transaction, read-only ones included (an upper bound on writing ones).
	Transactions int64
	// Tuples is the growth of rows inserted, updated and deleted; zero
	// means nothing was written.
	Tuples int64
	// Exact is false when the counters cannot be compared: another
	// incarnation of the database, or its statistics were reset since the
	// baseline (then the figures count from the reset: a lower bound).
	Exact bool
}

// WritesSince compares a baseline Status (taken at the switch) with a
// later one, for writesSinceSwitch.
//
// pg_stat_database counters are per database and cumulative; each session
// reports its counts when its transaction ends, at most about once a
// second, and on exit, so a reading lags live sessions by up to a second
// or so. They survive a clean restart but are reset by a crash (recovery)
// or pg_stat_reset(): then Exact is false.
func WritesSince(baseline, now State) Writes {
	w := Writes{Transactions: now.XactCommit - baseline.XactCommit, Tuples: now.TuplesWritten - baseline.TuplesWritten, Exact: true}
	if baseline.OID != now.OID || !baseline.StatsReset.Equal(now.StatsReset) || w.Transactions < 0 || w.Tuples < 0 {
		w = Writes{Transactions: now.XactCommit, Tuples: now.TuplesWritten}
	}
	return w
}
