package bluegreen

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbrelease"
)

// DatabaseObserved is what the PostgreSQL server says about a site's
// databases (spec.database); the controller reads it before each decision.
type DatabaseObserved struct {
	// States of the databases status.database names, and of both color
	// names, by name (a missing database has Exists false).
	States map[string]dbrelease.State
	// Copying: the controller is copying into the candidate database.
	Copying bool
	// CopyErr is why the last copy into the candidate failed ("" if none).
	CopyErr string
}

func (o *DatabaseObserved) state(name string) dbrelease.State {
	if o == nil {
		return dbrelease.State{Name: name}
	}
	return o.States[name]
}

// DatabaseOp is one operation on a site's databases (see internal/dbrelease).
type DatabaseOp string

// The operations the planner asks for; each is idempotent.
const (
	OpMoveAside    DatabaseOp = "MoveAside"
	OpFreeze       DatabaseOp = "Freeze"
	OpCopy         DatabaseOp = "Copy"
	OpUnfreeze     DatabaseOp = "Unfreeze"
	OpDropCopy     DatabaseOp = "DropCopy"
	OpReportWrites DatabaseOp = "ReportWrites"
	OpRetain       DatabaseOp = "Retain"
)

// DatabaseStep is an operation on the database Name. Steps run in order:
// those not AfterSwitch before any object is written, the others after the
// Services were.
type DatabaseStep struct {
	Op   DatabaseOp
	Name string
	// From is the source of a Copy.
	From string
	// SchemaRevision is what a Copy is made for.
	SchemaRevision string
	// Baseline is the abandoned side's counters at the switch (ReportWrites).
	Baseline *v1.DatabaseCounters
	// AfterSwitch steps run after the Services.
	AfterSwitch bool
}

// ColorDatabase is the database a color uses: <base>_<color>.
func ColorDatabase(base string, c v1.Color) string { return base + "_" + string(c) }

// DatabaseSecretName is the Secret with a color's DATABASE_* settings.
func DatabaseSecretName(site string, c v1.Color) string { return site + "-db-" + string(c) }

// DatabaseStatus is status.database with the defaults of a site that has
// not released yet: both colors on <base>_blue. Nil without spec.database.
func DatabaseStatus(s *v1.SiteDeployment) *v1.DatabaseStatus {
	spec := s.Spec.Database
	if spec == nil {
		return nil
	}
	d := s.Status.Database.DeepCopy()
	if d == nil || d.ActiveName == "" {
		d = &v1.DatabaseStatus{ActiveName: ColorDatabase(spec.Name, v1.Blue), SchemaRevision: spec.SchemaRevision}
	}
	for _, c := range []v1.Color{v1.Blue, v1.Green} {
		if d.Name(c) == "" {
			d.SetName(c, d.ActiveName)
		}
	}
	return d
}

func (p *planner) dbStep(s DatabaseStep) { p.plan.DatabaseSteps = append(p.plan.DatabaseSteps, s) }

// dbReady runs the database part of a release towards target on idle and
// tells whether the candidate may start. A release that keeps the schema
// revision shares the active database. One that changes it freezes the
// active database, copies it into the idle color's, migrates the copy and
// only then lets the candidate start on it. failed: the release was aborted.
func (p *planner) dbReady(activeColor, idle v1.Color, target string) (ready, failed bool) {
	d := p.st.Database
	if d == nil {
		return true, false
	}
	want := p.spec.Database.SchemaRevision
	if want == d.SchemaRevision {
		p.dbCancel(idle)
		p.dbWritable()
		d.SetName(idle, d.ActiveName)
		return true, false
	}
	c := d.Candidate
	if c != nil && (c.SchemaRevision != want || c.Color != idle) {
		p.dbCancel(idle) // the schema revision changed again; the freeze stays
		c = nil
	}
	if c == nil {
		// The copy takes the idle color's name, or the other one when
		// shared releases left the active database under that name.
		name := ColorDatabase(p.spec.Database.Name, idle)
		if name == d.ActiveName {
			name = ColorDatabase(p.spec.Database.Name, idle.Other())
		}
		c = &v1.DatabaseCandidate{Name: name, Color: idle, SchemaRevision: want, Step: v1.StepFreezing, StartedAt: p.time()}
		d.Candidate = c
		p.event(false, "DatabaseReleaseStarted", fmt.Sprintf("schema revision %s: freezing writes on %s to copy it to %s",
			want, d.ActiveName, c.Name))
	}
	active, copy := p.in.Database.state(d.ActiveName), p.in.Database.state(c.Name)
	if c.Step == v1.StepFreezing || c.Step == v1.StepCopying {
		timeout := durationOr(p.spec.Database.CopyTimeout, 30*time.Minute)
		if c.StartedAt != nil && !p.now.Before(c.StartedAt.Add(timeout)) {
			p.abort(target, v1.ReasonCopyFailed, fmt.Sprintf("freezing and copying %s to %s did not finish within copyTimeout (%s); %s keeps serving %s, writable again",
				d.ActiveName, c.Name, timeout, activeColor, d.ActiveName))
			return false, true
		}
		if c.StartedAt != nil {
			p.wakeAt(c.StartedAt.Add(timeout))
		}
	}
	if !active.Frozen || active.FrozenSince.IsZero() {
		if copy.Exists && !copy.CopyOf(d.ActiveName, want, time.Time{}) {
			p.dbStep(DatabaseStep{Op: OpMoveAside, Name: c.Name})
		}
		p.dbStep(DatabaseStep{Op: OpFreeze, Name: d.ActiveName})
		c.Step = v1.StepFreezing
		p.set(v1.PhaseProgressing, fmt.Sprintf("schema revision %s: freezing writes on %s", want, d.ActiveName))
		return false, false
	}
	d.FrozenSince = &metav1.Time{Time: active.FrozenSince}
	if !copy.CopyOf(d.ActiveName, want, active.FrozenSince) || copy.Marker.Role != dbrelease.RoleCopy || p.in.Database.Copying {
		if msg := p.in.Database.CopyErr; msg != "" {
			p.abort(target, v1.ReasonCopyFailed, fmt.Sprintf("copying database %s to %s failed (%s); %s keeps serving %s, writable again",
				d.ActiveName, c.Name, msg, activeColor, d.ActiveName))
			return false, true
		}
		p.dbStep(DatabaseStep{Op: OpCopy, Name: c.Name, From: d.ActiveName, SchemaRevision: want})
		c.Step = v1.StepCopying
		p.set(v1.PhaseProgressing, fmt.Sprintf("schema revision %s: copying %s (read-only since %s) to %s",
			want, d.ActiveName, active.FrozenSince.UTC().Format(time.RFC3339), c.Name))
		return false, false
	}
	d.SetName(idle, c.Name)
	if c.Step != v1.StepReady && p.spec.Database.Migration != nil {
		if done, failed := p.migrate(c, copy, target, activeColor); !done {
			return false, failed
		}
	}
	c.Step = v1.StepReady
	return true, false
}

// dbFrozenNote tells a person deciding on a schema-changing release that
// the live site refuses writes until they do.
func (p *planner) dbFrozenNote() string {
	d := p.st.Database
	if d == nil || d.Candidate == nil || d.FrozenSince == nil {
		return ""
	}
	return fmt.Sprintf(" (%s has refused writes since %s, until the switch or an abort)",
		d.ActiveName, d.FrozenSince.UTC().Format(time.RFC3339))
}

// migrate runs the migration Job against the copy; done once it succeeded.
func (p *planner) migrate(c *v1.DatabaseCandidate, copy dbrelease.State, target string, activeColor v1.Color) (done, failed bool) {
	spec := p.spec.Database.Migration
	name := MigrationJobName(p.site.Name, copy.OID, c.SchemaRevision)
	c.MigrationJob, c.Step = name, v1.StepMigrating
	job := p.in.Jobs[name]
	state, why := checkState(job)
	switch state {
	case jobSucceeded:
		return true, false
	case jobFailed:
		p.abort(target, v1.ReasonMigrationFailed, fmt.Sprintf("migration Job %s to schema revision %s failed (%s); %s keeps serving %s, writable again",
			name, c.SchemaRevision, why, activeColor, p.st.Database.ActiveName))
		return false, true
	case jobMissing:
		p.plan.Jobs = append(p.plan.Jobs, migrationJob(p.site, c, name, p.now))
	default:
		timeout := durationOr(spec.Timeout, 15*time.Minute)
		deadline := jobStarted(job).Add(timeout)
		if !p.now.Before(deadline) {
			p.abort(target, v1.ReasonMigrationTimedOut, fmt.Sprintf("migration Job %s did not finish within %s; %s keeps serving %s, writable again",
				name, timeout, activeColor, p.st.Database.ActiveName))
			return false, true
		}
		p.wakeAt(deadline)
	}
	p.set(v1.PhaseProgressing, fmt.Sprintf("schema revision %s: migration Job %s runs against %s", c.SchemaRevision, name, c.Name))
	return false, false
}

// dbCancel drops the copy of a schema-changing release that will not take
// traffic, and gives the idle color back the database its revision used.
func (p *planner) dbCancel(idle v1.Color) {
	d := p.st.Database
	c := d.Candidate
	if c == nil {
		return
	}
	active, copy := p.in.Database.state(d.ActiveName), p.in.Database.state(c.Name)
	// Before the freeze, c.Name may still be an older database, moved
	// aside only then: drop only what this release copied.
	if copy.CopyOf(d.ActiveName, c.SchemaRevision, time.Time{}) || active.CopyingTo == c.Name || p.in.Database.Copying {
		p.dbStep(DatabaseStep{Op: OpDropCopy, Name: c.Name})
	}
	d.Candidate = nil
	d.SetName(idle, p.previousOrActive())
	p.event(false, "DatabaseReleaseCancelled", fmt.Sprintf("schema revision %s will not take traffic: its copy %s is dropped", c.SchemaRevision, c.Name))
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
	if d.PreviousName == "" {
		d.FrozenSince = nil
	}
}

// dbSettle runs when no release towards a new schema is under way: no
// candidate copy, the active database writable, the previous one read-only,
// and each color given the database of the revision it runs.
func (p *planner) dbSettle(activeColor v1.Color) {
	d := p.st.Database
	if d == nil {
		return
	}
	p.dbCancel(activeColor.Other())
	p.dbWritable()
	if prev := p.in.Database.state(d.PreviousName); d.PreviousName != "" && prev.Exists && !prev.Frozen {
		p.dbStep(DatabaseStep{Op: OpFreeze, Name: d.PreviousName})
	}
	d.SetName(activeColor, d.ActiveName)
	d.SetName(activeColor.Other(), p.previousOrActive())
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
		d.PreviousName, d.PreviousSchemaRevision, d.FrozenSince = "", "", nil
	case d.Candidate != nil && next == d.Candidate.Name:
		d.PreviousName, d.PreviousSchemaRevision = d.ActiveName, d.SchemaRevision
		d.ActiveName, d.SchemaRevision = next, d.Candidate.SchemaRevision
		d.Candidate = nil
		d.SwitchBaseline, d.WritesSinceSwitch = counters(p.in.Database.state(next)), 0
		p.dbStep(DatabaseStep{Op: OpRetain, AfterSwitch: true})
		p.event(false, "DatabaseSwitched", fmt.Sprintf("%s (schema revision %s) takes writes; %s stays read-only for rollback",
			next, d.SchemaRevision, d.PreviousName))
	default:
		abandoned, baseline := d.ActiveName, d.SwitchBaseline
		schema := d.PreviousSchemaRevision
		if next != d.PreviousName {
			schema = ""
		}
		d.PreviousName, d.PreviousSchemaRevision = abandoned, d.SchemaRevision
		d.ActiveName, d.SchemaRevision = next, schema
		d.FrozenSince, d.SwitchBaseline = nil, nil
		p.dbStep(DatabaseStep{Op: OpFreeze, Name: abandoned, AfterSwitch: true})
		p.dbStep(DatabaseStep{Op: OpReportWrites, Name: abandoned, Baseline: baseline, AfterSwitch: true})
		p.dbStep(DatabaseStep{Op: OpUnfreeze, Name: next, AfterSwitch: true})
	}
}

func counters(s dbrelease.State) *v1.DatabaseCounters {
	c := &v1.DatabaseCounters{OID: int64(s.OID), XactCommit: s.XactCommit, TuplesWritten: s.TuplesWritten}
	if !s.StatsReset.IsZero() {
		c.StatsReset = &metav1.Time{Time: s.StatsReset}
	}
	return c
}

// Baseline turns recorded counters back into a dbrelease.State for WritesSince.
func Baseline(c *v1.DatabaseCounters) dbrelease.State {
	if c == nil {
		return dbrelease.State{}
	}
	s := dbrelease.State{OID: uint32(c.OID), XactCommit: c.XactCommit, TuplesWritten: c.TuplesWritten}
	if c.StatsReset != nil {
		s.StatsReset = c.StatsReset.Time
	}
	return s
}

// scaleDownIdleForCopy stops the idle color's pods while its database is
// replaced: they would otherwise reconnect to the copy.
func (p *planner) scaleDownIdleForCopy(idle v1.Color) {
	if d := p.in.Deployments[idle]; d != nil && ptr.Deref(d.Spec.Replicas, 0) > 0 {
		p.deploy(DeploymentIntent{Color: idle, Revision: revisionOf(d), Replicas: 0})
	}
}
