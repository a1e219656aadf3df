// Package dbstate owns what PostgreSQL says about a database understudy
// manages, as plain values: the Marker in its comment, the State of a
// color's database in a release (and of a next database that follows the
// live one, ReplicaState), the marker roles, and the application writes
// between two readings (WritesSince). internal/dbrelease reads these from
// the server; the blue/green planner (internal/bluegreen) decides on them
// without linking the database stack: this package imports no driver.
package dbstate

import (
	"errors"
	"time"
)

// Marker roles.
const (
	// RoleInitial marks the first color database, created empty.
	RoleInitial = "initial"
	// RoleCopying marks a copy being made: it is dropped and redone.
	RoleCopying = "copying"
	// RolePrepared marks an empty database made for a Dump copy before
	// its source is frozen (PrepareCopy): the copy restores into it
	// instead of creating it under the freeze. Like RoleCopying, it is an
	// unfinished copy.
	RolePrepared = "prepared"
	// RoleCopy marks a complete copy.
	RoleCopy = "copy"
	// RoleRehearsal marks a complete rehearsal copy: taken from a live
	// database, it is never a release's final copy, and is dropped once
	// its release cuts over or ends.
	RoleRehearsal = "rehearsal"
)

// RoleReplica marks a next database that follows its source by logical
// replication; like a copy being made it is unfinished (DropCopies drops
// a leftover one) until CatchUp marks it RoleCopy.
const RoleReplica = "replica"

// ErrReplicationStopped: the subscription stopped on an apply error (it
// is made with disable_on_error); the server's log names the row.
var ErrReplicationStopped = errors.New("replication into the next database stopped on an apply error (the PostgreSQL server's log names the table and row)")

// State is what the server says about one color's database.
type State struct {
	Name   string
	Exists bool
	// OID identifies this incarnation of the database: a database dropped
	// and made again under the same name has another, and its counters
	// start over.
	OID   uint32
	Owner string
	// Marker is dbrelease's marker; Marked is false for a database
	// that does not carry one (adopted, or not ours).
	Marker Marker
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

// Complete reports whether the database is one of dbrelease's finished
// databases (a complete copy, or the initial one).
func (s State) Complete() bool {
	return s.Marked && (s.Marker.Role == RoleCopy || s.Marker.Role == RoleInitial)
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
func (s State) Unfinished() bool { return s.Marked && UnfinishedRole(s.Marker.Role) }

// UnfinishedRole reports whether role marks a copy being made, or
// prepared for one.
func UnfinishedRole(role string) bool {
	return role == RoleCopying || role == RolePrepared || role == RoleReplica
}

// RehearsalOf reports whether s is a complete rehearsal copy of from made
// for revision.
func (s State) RehearsalOf(from, revision string) bool {
	return s.Exists && s.Marked && s.Marker.Role == RoleRehearsal && s.Marker.Source == from && s.Marker.Revision == revision
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

// ReplicaState is what the server says about a next database that follows
// the live one (Replicate).
type ReplicaState struct {
	// Subscribed: To has its subscription; Enabled: it applies (false after
	// an apply error, see ErrReplicationStopped).
	Subscribed, Enabled bool
	// Synced: every table of the subscription streams (state "r"eady;
	// the first copy is Replicate's, so at once).
	Synced bool
	// LagBytes is how much of the source's WAL To has not confirmed yet.
	LagBytes int64
}
