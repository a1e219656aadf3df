package bluegreen

import (
	"fmt"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbstate"
)

// The two ways a candidate's database is made: a rehearsal copy from a
// snapshot of the live database, and a copy under a write freeze (the
// cutover after a rehearsal, or a whole release without one). Both end
// with the migration Job run on the copy.

// dbRehearse makes the rehearsal copy: the idle color's pods stop, the
// active database is copied from a pg_dump snapshot while it keeps taking
// writes, and migrated; then the candidate may start on it. Nothing is
// frozen, and a rehearsal never leaves the active database frozen (a
// cutover given up for another release may have).
func (p *planner) dbRehearse(c *v1.DatabaseCandidate, activeColor, idle v1.Color, target string) (ready, failed bool) {
	d := p.st.Database
	p.dbWritable()
	c.Stage = v1.StageRehearsing // advanceCandidate says when it awaits promotion
	if c.Step != v1.StepMigrating && c.Step != v1.StepReady && !p.stopPods(idle) {
		p.dbProgress(c, fmt.Sprintf("stopping %s's pods before its database is replaced", idle))
		return false, false
	}
	active, copy := p.in.Database.state(d.ActiveName), p.in.Database.state(c.Name)
	complete := copy.RehearsalOf(d.ActiveName, c.SchemaRevision) && !p.in.Database.Copying
	if !complete && p.watchCopyTimeout(c) {
		p.abort(target, v1.ReasonCopyFailed, fmt.Sprintf("the rehearsal copy of %s to %s did not finish within copyTimeout (%s)%s",
			d.ActiveName, c.Name, p.copyTimeout(), p.dbAbortNote(c, activeColor)))
		return false, true
	}
	if copy.Exists && !candidateCopy(d.ActiveName, c, active, copy) {
		p.dbStep(DatabaseStep{Op: OpMoveAside, Name: c.Name})
	}
	if !complete {
		if msg := p.in.Database.CopyErr; msg != "" {
			p.abort(target, v1.ReasonCopyFailed, fmt.Sprintf("the rehearsal copy of %s to %s failed (%s)%s",
				d.ActiveName, c.Name, msg, p.dbAbortNote(c, activeColor)))
			return false, true
		}
		p.dbStep(DatabaseStep{Op: OpCopy, Name: c.Name, From: d.ActiveName, SchemaRevision: c.SchemaRevision, Rehearsal: true,
			Method: v1.CloneDump}) // a snapshot of a database that keeps its clients
		c.Step = v1.StepCopying
		p.dbProgress(c, fmt.Sprintf("copying a snapshot of %s, which keeps taking writes, to %s", d.ActiveName, c.Name))
		return false, false
	}
	return p.dbMigrated(c, copy, activeColor, idle, target)
}

// dbFreezeAndCopy makes the copy under a write freeze: the idle color's
// pods stop (in a cutover, the candidate's preview pods) and the
// rehearsal copy under the copy's name is dropped, both before the
// freeze; then the active database is frozen, copied and migrated.
func (p *planner) dbFreezeAndCopy(c *v1.DatabaseCandidate, activeColor, idle v1.Color, target string) (ready, failed bool) {
	d, want := p.st.Database, c.SchemaRevision
	// The idle color's pods stop first: they must not reconnect to a
	// database that changes under their name. (Once this candidate is
	// migrating or ready, the idle color's pods are its own.)
	if c.Step != v1.StepMigrating && c.Step != v1.StepReady && !p.stopPods(idle) {
		p.dbProgress(c, fmt.Sprintf("stopping %s's pods before its database is replaced", idle))
		return false, false
	}
	active, copy := p.in.Database.state(d.ActiveName), p.in.Database.state(c.Name)
	frozen := active.Frozen && !active.FrozenSince.IsZero()
	complete := frozen && copy.CopyOf(d.ActiveName, want, active.FrozenSince) && copy.Marker.Role == dbstate.RoleCopy && !p.in.Database.Copying
	if !complete && p.watchCopyTimeout(c) {
		p.abort(target, v1.ReasonCopyFailed, fmt.Sprintf("%sfreezing and copying %s to %s did not finish within copyTimeout (%s)%s",
			cutoverPrefix(c), d.ActiveName, c.Name, p.copyTimeout(), p.dbAbortNote(c, activeColor)))
		return false, true
	}
	switch {
	case copy.RehearsalOf(d.ActiveName, want):
		// The rehearsal served; the final copy takes its name.
		p.dbStep(DatabaseStep{Op: OpDropCopy, Name: c.Name})
	case copy.Exists && !candidateCopy(d.ActiveName, c, active, copy):
		// An older database holds the name (a previous release's, kept
		// for rollback, or an adopted one): it stays, under another name.
		p.dbStep(DatabaseStep{Op: OpMoveAside, Name: c.Name})
	}
	if !frozen {
		p.dbStep(DatabaseStep{Op: OpFreeze, Name: d.ActiveName, SettleFirst: true, PrepareCopy: c.Name, SchemaRevision: want,
			Method: p.cloneMethod()})
		c.Step = v1.StepFreezing
		p.dbProgress(c, fmt.Sprintf("freezing writes on %s", d.ActiveName))
		return false, false
	}
	if !complete {
		if msg := p.in.Database.CopyErr; msg != "" {
			p.abort(target, v1.ReasonCopyFailed, fmt.Sprintf("%scopying database %s to %s failed (%s)%s",
				cutoverPrefix(c), d.ActiveName, c.Name, msg, p.dbAbortNote(c, activeColor)))
			return false, true
		}
		p.dbStep(DatabaseStep{Op: OpCopy, Name: c.Name, From: d.ActiveName, SchemaRevision: want, AnalyzeAfterSwitch: c.Stage == v1.StageCuttingOver,
			Method: p.cloneMethod()})
		c.Step = v1.StepCopying
		p.dbProgress(c, fmt.Sprintf("copying %s (read-only since %s) to %s",
			d.ActiveName, active.FrozenSince.UTC().Format(time.RFC3339), c.Name))
		return false, false
	}
	return p.dbMigrated(c, copy, activeColor, idle, target)
}

// dbMigrated gives the idle color (its pods are stopped) the complete copy
// and runs the migration on it; ready once it succeeded.
func (p *planner) dbMigrated(c *v1.DatabaseCandidate, copy dbstate.State, activeColor, idle v1.Color, target string) (ready, failed bool) {
	p.st.Database.SetName(idle, c.Name)
	if c.Step != v1.StepReady && p.spec.Database.Migration != nil {
		if c.Stage != "" {
			c.Migration = p.migrationRevision()
		}
		if done, failed := p.migrate(c, copy, target, activeColor); !done {
			return false, failed
		}
	}
	c.Step = v1.StepReady
	return true, false
}

// migrationRevision names spec.database.migration's pod template.
func (p *planner) migrationRevision() string {
	if m := p.spec.Database.Migration; m != nil {
		return Revision(&m.Template)
	}
	return ""
}

func (p *planner) copyTimeout() time.Duration {
	return durationOr(p.spec.Database.CopyTimeout, 30*time.Minute)
}

// watchCopyTimeout asks to be woken when copyTimeout will have passed since
// the current copy began (the rehearsal's, or the freeze), and reports
// whether it has: a check with a side effect on the plan's wake time.
func (p *planner) watchCopyTimeout(c *v1.DatabaseCandidate) (expired bool) {
	if c.StartedAt == nil {
		return false
	}
	end := c.StartedAt.Add(p.copyTimeout())
	p.wakeAt(end)
	return !p.now.Before(end)
}

// migrate runs the migration Job against the copy; done once it succeeded.
// A copy is migrated by a Job of its own (named by its OID): the cutover
// runs the same template again on the final copy.
func (p *planner) migrate(c *v1.DatabaseCandidate, copy dbstate.State, target string, activeColor v1.Color) (done, failed bool) {
	spec := p.spec.Database.Migration
	name := MigrationJobName(p.site.Name, copy.OID, c.SchemaRevision)
	c.MigrationJob, c.Step = name, v1.StepMigrating
	job := p.in.Jobs[name]
	state, why := checkState(job)
	switch state {
	case jobSucceeded:
		return true, false
	case jobFailed:
		p.abort(target, v1.ReasonMigrationFailed, fmt.Sprintf("%smigration Job %s to schema revision %s failed on %s (%s)%s",
			cutoverPrefix(c), name, c.SchemaRevision, copyKind(c), p.jobFailure(name, why), p.dbAbortNote(c, activeColor)))
		return false, true
	case jobMissing:
		p.plan.Jobs = append(p.plan.Jobs, migrationJob(p.site, c, name, p.now))
	default:
		timeout := durationOr(spec.Timeout, 15*time.Minute)
		deadline := jobStarted(job).Add(timeout)
		if !p.now.Before(deadline) {
			p.abort(target, v1.ReasonMigrationTimedOut, fmt.Sprintf("%smigration Job %s did not finish within %s on %s (%s)%s",
				cutoverPrefix(c), name, timeout, copyKind(c), p.jobLogs(name), p.dbAbortNote(c, activeColor)))
			return false, true
		}
		p.wakeAt(deadline)
	}
	p.dbProgress(c, fmt.Sprintf("migration Job %s runs against %s", name, c.Name))
	return false, false
}
