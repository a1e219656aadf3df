package bluegreen

import (
	"maps"
	"slices"

	"github.com/understudy-dev/understudy/internal/dbstate"
)

// simReplication plays logical replication into a next database for the
// planner tests, as internal/dbrelease does it on a real server.
type simReplication struct {
	replicas map[string]*simReplica
	// unsupported is why the live database cannot be replicated.
	unsupported []string
	// syncing keeps a new replica's initial copy running.
	syncing bool
	// lag is every replica's lag in bytes.
	lag int64
	// conflicts is what the migrated replica cannot carry.
	conflicts []string
	// caughtUp counts the catch-ups.
	caughtUp int
}

type simReplica struct {
	synced, stopped bool
}

func (s *dbServer) observeReplication() *ReplicationObserved {
	need := NeedsReplication(s.w.site)
	if need == (ReplicationNeeds{}) {
		return nil
	}
	r, o := s.replication, &ReplicationObserved{}
	if need.Unsupported {
		o.Unsupported = slices.Clone(r.unsupported)
	}
	if c := s.w.site.Status.Database.Candidate; need.Replica {
		if rep := r.replicas[c.Name]; rep != nil {
			o.Replica = dbstate.ReplicaState{Subscribed: true, Enabled: !rep.stopped, Synced: rep.synced, LagBytes: r.lag}
		}
		if need.Conflicts && o.Replica.Subscribed {
			o.Conflicts = slices.Clone(r.conflicts)
		}
	}
	if need.Leftovers {
		o.Leftovers = slices.Sorted(maps.Keys(r.replicas))
	}
	return o
}

func (s *dbServer) runReplicationStep(step DatabaseStep) {
	r := &s.replication
	switch step.Op {
	case OpReplicate:
		if r.replicas == nil {
			r.replicas = map[string]*simReplica{}
		}
		if r.replicas[step.Name] == nil {
			s.create(step.Name, dbstate.RoleReplica, step.From, step.SchemaRevision)
			r.replicas[step.Name] = &simReplica{}
		}
		r.replicas[step.Name].synced = !r.syncing
	case OpCatchUp:
		from := s.dbs[step.From]
		if !from.Frozen {
			s.w.t.Fatalf("a catch-up of %s from %s, which is not frozen", step.Name, step.From)
		}
		st := s.dbs[step.Name]
		st.Marker = markerOf(dbstate.RoleCopy, step.From, st.Marker.Revision, s.w.now)
		st.Frozen = false
		s.dbs[step.Name] = st
		r.caughtUp++
	case OpDropReplication:
		delete(r.replicas, step.Name)
	}
}
