package dbrelease

import "github.com/understudy-dev/understudy/internal/dbstate"

// What the server says about a database is plain values in dbstate, which
// the planner reads too; these names keep this package's code reading as
// before.
type (
	// State is dbstate.State.
	State = dbstate.State
	// ReplicaState is dbstate.ReplicaState.
	ReplicaState = dbstate.ReplicaState
	// Writes is dbstate.Writes.
	Writes = dbstate.Writes
)

// Marker roles (see dbstate).
const (
	RoleInitial   = dbstate.RoleInitial
	RoleCopying   = dbstate.RoleCopying
	RolePrepared  = dbstate.RolePrepared
	RoleCopy      = dbstate.RoleCopy
	RoleRehearsal = dbstate.RoleRehearsal
	RoleReplica   = dbstate.RoleReplica
)

// ErrReplicationStopped is dbstate.ErrReplicationStopped.
var ErrReplicationStopped = dbstate.ErrReplicationStopped

// WritesSince is dbstate.WritesSince.
func WritesSince(baseline, now State) Writes { return dbstate.WritesSince(baseline, now) }
