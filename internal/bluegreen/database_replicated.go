package bluegreen

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbstate"
)

// The replicated cutover (spec.database.cutover.method Replicated): after
// the approval the next database is made by logical replication from the
// live one while it keeps taking writes, migrated while it follows, held
// read-only while the candidate starts on it at full size, and only then
// is the live database frozen, for the catch-up and the switch, which run
// in one decision. What replication cannot carry (the server, a table,
// the migration) is found before anything freezes: the cutover then copies
// instead, or fails, as onUnsupported says.

// ReplicationObserved is what the server says for a Replicated cutover.
// The controller reads each part only while the planner may need it
// (NeedsReplication).
type ReplicationObserved struct {
	// Unsupported is why the live database cannot be replicated, read
	// while the cutover's method is chosen.
	Unsupported []string
	// Replica is the replication into the candidate's database.
	Replica dbstate.ReplicaState
	// Conflicts is what of the migrated next database replication cannot
	// carry, read once it is held read-only after its migration.
	Conflicts []string
	// Leftovers are databases of the site with replication objects left
	// behind (the slot pins the live database's WAL): dropped.
	Leftovers []string
}

// The operations of a replicated cutover.
const (
	// OpReplicate makes Name follow From (dbrelease.Replicate), in the
	// background, until every table is copied.
	OpReplicate DatabaseOp = "Replicate"
	// OpCatchUp waits, inside the freeze, until Name applied From's last
	// writes and makes it a complete copy (dbrelease.CatchUp), at most
	// Timeout; the switch is written only if it succeeded.
	OpCatchUp DatabaseOp = "CatchUp"
	// OpDropReplication drops the publication, slot and subscription that
	// make Name follow From (dbrelease.DropReplication).
	OpDropReplication DatabaseOp = "DropReplication"
)

// Needs says which parts of ReplicationObserved the planner reads next.
type ReplicationNeeds struct {
	Unsupported, Replica, Conflicts, Leftovers bool
}

// NeedsReplication tells the controller what to read about replication for
// site (nothing unless a Replicated cutover is asked for or ran).
func NeedsReplication(s *v1.SiteDeployment) ReplicationNeeds {
	var n ReplicationNeeds
	d := s.Status.Database
	if s.Spec.Database == nil || d == nil {
		return n
	}
	wanted := cutoverSpec(s.Spec.Database).Method == v1.CutoverReplicated
	c := d.Candidate
	replicated := c != nil && c.Cutover != nil && c.Cutover.Method == v1.CutoverReplicated
	n.Leftovers = !replicated && (wanted || d.LastCutover != nil && d.LastCutover.Method == v1.CutoverReplicated)
	if c == nil || c.Stage != v1.StageCuttingOver {
		return n
	}
	n.Unsupported = wanted && c.Cutover == nil
	n.Replica = replicated
	n.Conflicts = replicated && (c.Step == v1.StepMigrating || c.Step == v1.StepReady)
	return n
}

// cutoverSpec is spec.database.cutover with its defaults.
func cutoverSpec(db *v1.DatabaseSpec) v1.CutoverSpec {
	c := v1.CutoverSpec{Method: v1.CutoverCopy, OnUnsupported: v1.FallbackCopy}
	if s := db.Cutover; s != nil {
		if s.Method != "" {
			c.Method = s.Method
		}
		if s.OnUnsupported != "" {
			c.OnUnsupported = s.OnUnsupported
		}
		c.MaxLagBytes, c.CatchUpTimeout = s.MaxLagBytes, s.CatchUpTimeout
	}
	return c
}

func (p *planner) catchUpTimeout() time.Duration {
	return durationOr(cutoverSpec(p.spec.Database).CatchUpTimeout, 10*time.Second)
}

func (p *planner) replication() *ReplicationObserved {
	if p.in.Database == nil {
		return nil
	}
	return p.in.Database.Replication
}

// dbCutover makes the next database of a promoted release: by copy under
// the freeze, or by replication, chosen once when the cutover begins.
func (p *planner) dbCutover(c *v1.DatabaseCandidate, activeColor, idle v1.Color, target string) (ready, failed bool) {
	if c.Cutover == nil {
		if decided, failed := p.chooseCutover(c, activeColor, target); !decided {
			return false, failed
		}
	}
	if c.Cutover.Method == v1.CutoverReplicated {
		return p.dbReplicate(c, activeColor, idle, target)
	}
	return p.dbFreezeAndCopy(c, activeColor, idle, target)
}

// chooseCutover records the cutover's method: Replicated when asked for
// and the live database can be replicated.
func (p *planner) chooseCutover(c *v1.DatabaseCandidate, activeColor v1.Color, target string) (decided, failed bool) {
	if cutoverSpec(p.spec.Database).Method != v1.CutoverReplicated {
		c.Cutover = &v1.CutoverStatus{Method: v1.CutoverCopy}
		return true, false
	}
	r := p.replication()
	if r == nil {
		p.dbProgress(c, fmt.Sprintf("checking whether %s can be replicated", p.st.Database.ActiveName))
		p.wakeAt(p.now.Add(DatabaseRecheck))
		return false, false
	}
	if len(r.Unsupported) > 0 {
		return p.cannotReplicate(c, activeColor, target, fmt.Sprintf("%s cannot be replicated: %s",
			p.st.Database.ActiveName, strings.Join(r.Unsupported, "; ")))
	}
	c.Cutover = &v1.CutoverStatus{Method: v1.CutoverReplicated}
	return true, false
}

// cannotReplicate falls back to the copy cutover, or fails the release,
// as spec.database.cutover.onUnsupported says; nothing is frozen yet.
func (p *planner) cannotReplicate(c *v1.DatabaseCandidate, activeColor v1.Color, target, why string) (decided, failed bool) {
	if cutoverSpec(p.spec.Database).OnUnsupported == v1.FallbackFail {
		p.abort(target, v1.ReasonReplicationUnsupported, fmt.Sprintf("cutover: %s (spec.database.cutover.onUnsupported is Fail)%s",
			why, p.dbAbortNote(c, activeColor)))
		return false, true
	}
	c.Cutover = &v1.CutoverStatus{Method: v1.CutoverCopy, Reason: why}
	c.Step, c.MigrationJob, c.StartedAt = v1.StepFreezing, "", p.time()
	p.event(true, v1.EventDatabaseCutoverFallback, fmt.Sprintf("schema revision %s cuts over by copy, not by replication: %s", c.SchemaRevision, why))
	return true, false
}

// dbReplicate makes the next database by replication: the preview pods
// stop and the rehearsal copy goes (as for a copy), the next database
// follows the live one until every table is copied, the migration runs on
// it, and it is held read-only while the candidate starts on it; the
// freeze and catch-up come at the switch (dbCatchUp).
func (p *planner) dbReplicate(c *v1.DatabaseCandidate, activeColor, idle v1.Color, target string) (ready, failed bool) {
	d, want := p.st.Database, c.SchemaRevision
	if c.Step != v1.StepMigrating && c.Step != v1.StepReady && !p.stopPods(idle) {
		p.dbProgress(c, fmt.Sprintf("stopping %s's pods before its database is replaced", idle))
		return false, false
	}
	active, next := p.in.Database.state(d.ActiveName), p.in.Database.state(c.Name)
	if caughtUp(d.ActiveName, want, active, next) { // a restart between the catch-up and the switch
		return true, false
	}
	replica := next.Exists && next.Marked && next.Marker.Role == dbstate.RoleReplica && next.Marker.Source == d.ActiveName && next.Marker.Revision == want
	switch {
	case next.RehearsalOf(d.ActiveName, want):
		p.dbStep(DatabaseStep{Op: OpDropCopy, Name: c.Name})
	case next.Exists && !replica && !candidateCopy(d.ActiveName, c, active, next):
		p.dbStep(DatabaseStep{Op: OpMoveAside, Name: c.Name})
	}
	r := p.replication()
	if r == nil {
		p.dbProgress(c, fmt.Sprintf("reading the replication of %s into %s", d.ActiveName, c.Name))
		p.wakeAt(p.now.Add(DatabaseRecheck))
		return false, false
	}
	if replica && r.Replica.Subscribed && !r.Replica.Enabled {
		return p.replicaUnfit(c, activeColor, idle, target, dbstate.ErrReplicationStopped.Error())
	}
	if !replica || !r.Replica.Synced || p.in.Database.Copying {
		return p.dbFollow(c, activeColor, idle, target)
	}
	d.SetName(idle, c.Name)
	if c.Step != v1.StepReady && p.spec.Database.Migration != nil {
		c.Migration = p.migrationRevision()
		if done, failed := p.migrate(c, next, target, activeColor); !done {
			return false, failed
		}
	}
	if !next.Frozen { // held read-only: the candidate starts on it, and writes nothing before the switch
		p.dbStep(DatabaseStep{Op: OpFreeze, Name: c.Name})
		p.dbProgress(c, fmt.Sprintf("%s is migrated and follows %s; holding it read-only for the candidate's start", c.Name, d.ActiveName))
		return false, false
	}
	if len(r.Conflicts) > 0 { // read after the hold, so after the migration
		return p.replicaUnfit(c, activeColor, idle, target, "the migration cannot be replicated: "+strings.Join(r.Conflicts, "; "))
	}
	c.Step = v1.StepReady
	return true, false
}

// dbFollow makes the next database follow the live one until every table
// is copied, within copyTimeout.
func (p *planner) dbFollow(c *v1.DatabaseCandidate, activeColor, idle v1.Color, target string) (ready, failed bool) {
	d := p.st.Database
	if p.watchCopyTimeout(c) {
		p.abort(target, v1.ReasonCopyFailed, fmt.Sprintf("cutover: replicating %s to %s did not copy every table within copyTimeout (%s)%s",
			d.ActiveName, c.Name, p.copyTimeout(), p.dbAbortNote(c, activeColor)))
		return false, true
	}
	if msg := p.in.Database.CopyErr; msg != "" {
		return p.replicaUnfit(c, activeColor, idle, target, "replicating failed: "+msg)
	}
	p.dbStep(DatabaseStep{Op: OpReplicate, Name: c.Name, From: d.ActiveName, SchemaRevision: c.SchemaRevision})
	c.Step = v1.StepReplicating
	p.dbProgress(c, fmt.Sprintf("%s follows %s by logical replication and copies every table; %s keeps taking writes",
		c.Name, d.ActiveName, d.ActiveName))
	return false, false
}

// replicaUnfit gives up the replica (its replication with it) and falls
// back or fails, once no pod of the idle color runs on it any more.
func (p *planner) replicaUnfit(c *v1.DatabaseCandidate, activeColor, idle v1.Color, target, why string) (ready, failed bool) {
	if !p.stopPods(idle) {
		p.dbProgress(c, fmt.Sprintf("stopping %s's pods before dropping the replica %s: %s", idle, c.Name, why))
		return false, false
	}
	p.dbStep(DatabaseStep{Op: OpStopCopy, Name: c.Name})
	p.dbStep(DatabaseStep{Op: OpDropCopy, Name: c.Name})
	if _, failed := p.cannotReplicate(c, activeColor, target, why); failed {
		return false, true
	}
	p.dbProgress(c, "dropping the replica "+c.Name+" to copy instead: "+why)
	return false, false
}

// caughtUp tells whether next is the complete copy a catch-up made from
// the frozen active database.
func caughtUp(activeName, revision string, active, next dbstate.State) bool {
	return active.Frozen && next.Marker.Role == dbstate.RoleCopy && next.CopyOf(activeName, revision, active.FrozenSince)
}

// dbCatchUp runs right before a switch to the candidate. A Replicated
// cutover freezes the live database once the next one is within maxLag,
// and asks for the catch-up (Plan.SwitchSteps); the controller runs both
// right before it writes the Services, so the switch in the same plan
// happens only if they succeeded. A catch-up that keeps failing past catchUpTimeout (twice,
// for the retries) aborts, and the live database is writable again.
func (p *planner) dbCatchUp(target string, activeColor v1.Color) (switchNow, failed bool) {
	d := p.st.Database
	if d == nil || d.Candidate == nil || d.Candidate.Cutover == nil || d.Candidate.Cutover.Method != v1.CutoverReplicated {
		return true, false
	}
	c := d.Candidate
	active, next := p.in.Database.state(d.ActiveName), p.in.Database.state(c.Name)
	if caughtUp(d.ActiveName, c.SchemaRevision, active, next) {
		return true, false
	}
	if !active.Frozen {
		maxLag := ptr.Deref(cutoverSpec(p.spec.Database).MaxLagBytes, 1<<20)
		if r := p.replication(); r == nil || r.Replica.LagBytes > maxLag {
			lag := "unknown"
			if r != nil {
				lag = fmt.Sprintf("%d bytes", r.Replica.LagBytes)
			}
			if p.watchCopyTimeout(c) {
				p.abort(target, v1.ReasonCatchUpFailed, fmt.Sprintf("cutover: %s stayed more than maxLagBytes (%d) behind %s until copyTimeout (%s)%s",
					c.Name, maxLag, d.ActiveName, p.copyTimeout(), p.dbAbortNote(c, activeColor)))
				return false, true
			}
			p.wakeAt(p.now.Add(time.Second))
			p.dbProgress(c, fmt.Sprintf("waiting for %s to come within %d bytes of %s (behind by %s) before freezing it", c.Name, maxLag, d.ActiveName, lag))
			return false, false
		}
		p.plan.SwitchSteps = append(p.plan.SwitchSteps, DatabaseStep{Op: OpFreeze, Name: d.ActiveName})
	} else if end := active.FrozenSince.Add(2 * p.catchUpTimeout()); !p.now.Before(end) {
		p.abort(target, v1.ReasonCatchUpFailed, fmt.Sprintf("cutover: %s did not apply the last writes of %s within catchUpTimeout (%s)%s",
			c.Name, d.ActiveName, p.catchUpTimeout(), p.dbAbortNote(c, activeColor)))
		return false, true
	}
	p.plan.SwitchSteps = append(p.plan.SwitchSteps, DatabaseStep{Op: OpCatchUp, Name: c.Name, From: d.ActiveName, Timeout: p.catchUpTimeout()})
	return true, false
}
