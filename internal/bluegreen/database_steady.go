package bluegreen

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbstate"
)

// The database side of the steady state and of switches: which database
// each color is given, what stays frozen, and what a switch changes.

// stopPods scales a color to zero and tells whether it runs no pods any
// more, as its Deployment controller reports it.
func (p *planner) stopPods(c v1.Color) (stopped bool) {
	dep := p.in.Deployments[c]
	if dep == nil {
		return true
	}
	if ptr.Deref(dep.Spec.Replicas, 0) > 0 {
		p.deploy(DeploymentIntent{Color: c, Revision: revisionOf(dep), Replicas: 0})
		return false
	}
	return dep.Status.ObservedGeneration >= dep.Generation && dep.Status.Replicas == 0 &&
		ptr.Deref(dep.Status.TerminatingReplicas, 0) == 0
}

// repoint gives a color's pods the database name, once none of them runs
// any more: a pod must never restart onto a database of another schema.
func (p *planner) repoint(c v1.Color, name string) bool {
	d := p.st.Database
	if d.Name(c) == name {
		return true
	}
	if !p.stopPods(c) {
		if p.message == "" { // an abort's message says more
			p.set(v1.PhaseProgressing, fmt.Sprintf("stopping %s's pods before giving it database %s", c, name))
		}
		return false
	}
	d.SetName(c, name)
	return true
}

// dbCancel drops the copy of a schema-changing release that will not take
// traffic, and gives the idle color back the database its revision used
// once the candidate's pods are gone.
func (p *planner) dbCancel(idle v1.Color) {
	d := p.st.Database
	c := d.Candidate
	if c == nil {
		return
	}
	p.dbStep(DatabaseStep{Op: OpStopCopy, Name: c.Name})
	note := "nothing was copied yet"
	if CandidateCopyIsOurs(d, p.in.Database.state(d.ActiveName), p.in.Database.state(c.Name)) {
		p.dbStep(DatabaseStep{Op: OpDropCopy, Name: c.Name})
		note = "its copy " + c.Name + " is dropped"
	}
	if state, _ := checkState(p.in.Jobs[c.MigrationJob]); state == jobRunning {
		// A migration pod that has not run yet must never reach a later
		// copy made under the same name. (A finished Job stays, with its
		// logs, for whoever reads why the release failed.)
		p.plan.DeleteJobs = append(p.plan.DeleteJobs, c.MigrationJob)
	}
	d.Candidate = nil
	p.repoint(idle, p.previousOrActive())
	p.event(false, v1.EventDatabaseReleaseCancelled, fmt.Sprintf("schema revision %s will not take traffic: %s", c.SchemaRevision, note))
}

func (p *planner) previousOrActive() string {
	if d := p.st.Database; d.PreviousName != "" {
		return d.PreviousName
	}
	return p.st.Database.ActiveName
}

// dbWritable makes sure the active database takes writes.
func (p *planner) dbWritable() {
	d := p.st.Database
	if p.in.Database.state(d.ActiveName).Frozen {
		p.dbStep(DatabaseStep{Op: OpUnfreeze, Name: d.ActiveName})
	}
}

// dbFinish records since when the old side is read-only: the active
// database's freeze during a schema-changing release, else, after its
// switch, the kept previous database's; none after a rollback (the
// abandoned side's freeze is no write freeze of the site).
func (p *planner) dbFinish() {
	d := p.st.Database
	if d == nil {
		return
	}
	var since time.Time
	if s := p.in.Database.state(d.ActiveName); d.Candidate != nil && s.Frozen {
		since = s.FrozenSince
	} else if s := p.in.Database.state(d.PreviousName); d.Candidate == nil && d.SwitchBaseline != nil && d.PreviousName != "" && s.Frozen {
		since = s.FrozenSince
	}
	d.FrozenSince = nil
	if !since.IsZero() {
		d.FrozenSince = &metav1.Time{Time: since}
	}
	for i, s := range p.plan.AfterSwitchSteps {
		if s.Op == OpRetain {
			p.plan.AfterSwitchSteps[i] = p.retention(d)
		}
	}
}

// retention is the Retain step after a switch onto a new database: the
// databases status.database names stay, and of the site's other copies
// the newest spec.database.retainPrevious, the previous database counting
// as one.
func (p *planner) retention(d *v1.DatabaseStatus) DatabaseStep {
	retain := int(ptr.Deref(p.spec.Database.RetainPrevious, 1))
	if d.PreviousName != "" {
		retain--
	}
	return DatabaseStep{Op: OpRetain, Keep: []string{d.ActiveName, d.PreviousName, d.Blue, d.Green}, Retain: max(retain, 0)}
}

// cloneMethod is how a release copies the live database
// (spec.database.cloneMethod, Dump when unset).
func (p *planner) cloneMethod() v1.CloneMethod {
	if m := p.spec.Database.CloneMethod; m != "" {
		return m
	}
	return v1.CloneDump
}

// dbSteady brings the databases to their steady state when no release
// towards a new schema is under way: no candidate copy, the active database
// writable, the previous one read-only, and each color given the database
// of the revision it runs; steady is false while the idle color still waits
// for its pods to stop before it gets its database back. (Not to be
// confused with dbrelease.Settle, the VACUUM and CHECKPOINT before a
// freeze.)
func (p *planner) dbSteady(activeColor v1.Color) (steady bool) {
	d := p.st.Database
	if d == nil {
		return true
	}
	p.dbCancel(activeColor.Other())
	p.dbWritable()
	if r := p.replication(); r != nil {
		for _, name := range r.Leftovers {
			p.dbStep(DatabaseStep{Op: OpDropReplication, Name: name, From: p.previousOrActive()})
		}
	}
	if prev := p.in.Database.state(d.PreviousName); d.PreviousName != "" && prev.Exists && !prev.Frozen {
		p.dbStep(DatabaseStep{Op: OpFreeze, Name: d.PreviousName})
	}
	d.SetName(activeColor, d.ActiveName)
	return p.repoint(activeColor.Other(), p.previousOrActive())
}

// dbSwitched moves status.database along when traffic moved from one color
// to the other: onto a migrated copy (a schema-changing release), back to
// an older database (a rollback), or within a shared database.
func (p *planner) dbSwitched(from, to v1.Color) {
	d := p.st.Database
	if d == nil || from == "" || from == to {
		return
	}
	next := d.Name(to)
	switch {
	case next == d.ActiveName:
		d.PreviousName, d.PreviousSchemaRevision = "", ""
	case d.Candidate != nil && next == d.Candidate.Name:
		if d.Candidate.Stage == v1.StageCuttingOver { // its final copy was not analyzed inside the freeze
			p.dbStepAfterSwitch(DatabaseStep{Op: OpAnalyze, Name: next})
		}
		if cut := d.Candidate.Cutover; cut != nil {
			d.LastCutover = cut.DeepCopy()
			if cut.Method == v1.CutoverReplicated {
				p.dbStepAfterSwitch(DatabaseStep{Op: OpDropReplication, Name: next, From: d.ActiveName})
			}
		}
		d.PreviousName, d.PreviousSchemaRevision = d.ActiveName, d.SchemaRevision
		d.ActiveName, d.SchemaRevision = next, d.Candidate.SchemaRevision
		d.Candidate = nil
		d.SwitchBaseline, d.WritesSinceSwitch = Counters(p.in.Database.state(next)), 0
		p.dbStepAfterSwitch(DatabaseStep{Op: OpMeasureFreeze, Name: d.PreviousName})
		p.dbStepAfterSwitch(DatabaseStep{Op: OpRetain})
		p.event(false, v1.EventDatabaseSwitched, fmt.Sprintf("%s (schema revision %s) takes writes; %s stays read-only for rollback",
			next, d.SchemaRevision, d.PreviousName))
	default:
		abandoned, baseline := d.ActiveName, d.SwitchBaseline
		schema := d.PreviousSchemaRevision
		if next != d.PreviousName {
			schema = ""
		}
		d.PreviousName, d.PreviousSchemaRevision = abandoned, d.SchemaRevision
		d.ActiveName, d.SchemaRevision = next, schema
		d.SwitchBaseline = nil
		p.dbStepAfterSwitch(DatabaseStep{Op: OpFreeze, Name: abandoned})
		p.dbStepAfterSwitch(DatabaseStep{Op: OpReportWrites, Name: abandoned, Baseline: baseline})
		p.dbStepAfterSwitch(DatabaseStep{Op: OpUnfreeze, Name: next})
	}
}

// SwitchableCandidate names the candidate database the site may switch to
// (migrated, and not a rehearsal copy), "" when none: the controller reads
// its row counters (dbrelease.ReadRows) before deciding, so that the
// switch records the baseline writesSinceSwitch counts from. Only then:
// the counters need a session on the database itself.
func SwitchableCandidate(d *v1.DatabaseStatus) string {
	if d == nil || d.Candidate == nil || d.Candidate.Step != v1.StepReady || Rehearsing(d.Candidate) {
		return ""
	}
	return d.Candidate.Name
}

// Counters records s's counters, the baseline of writesSinceSwitch.
func Counters(s dbstate.State) *v1.DatabaseCounters {
	c := &v1.DatabaseCounters{OID: int64(s.OID)}
	if s.RowsRead {
		c.RowsWritten = ptr.To(s.Rows)
	}
	if !s.StatsReset.IsZero() {
		c.StatsReset = &metav1.Time{Time: s.StatsReset}
	}
	return c
}

// Baseline turns recorded counters back into a dbstate.State for WritesSince.
func Baseline(c *v1.DatabaseCounters) dbstate.State {
	if c == nil {
		return dbstate.State{}
	}
	s := dbstate.State{OID: uint32(c.OID)}
	if c.RowsWritten != nil {
		s.Rows, s.RowsRead = *c.RowsWritten, true
	}
	if c.StatsReset != nil {
		s.StatsReset = c.StatsReset.Time
	}
	return s
}
