package bluegreen

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbstate"
)

// DatabaseObserved is what the PostgreSQL server says about a site's
// databases (spec.database); the controller reads it before each decision.
type DatabaseObserved struct {
	// States of the databases status.database names, and of both color
	// names, by name (a missing database has Exists false).
	States map[string]dbstate.State
	// Copying: the controller is copying into the candidate database.
	Copying bool
	// CopyErr is why the last copy into the candidate failed ("" if none).
	CopyErr string
	// Existing lists the site's databases on the server (dbrelease.
	// SiteDatabases), read only while status.database names none yet.
	Existing []string
	// Replication is read only for a Replicated cutover (NeedsReplication).
	Replication *ReplicationObserved
}

func (o *DatabaseObserved) state(name string) dbstate.State {
	if o == nil {
		return dbstate.State{Name: name}
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
	OpStopCopy     DatabaseOp = "StopCopy"
	OpReportWrites DatabaseOp = "ReportWrites"
	OpRetain       DatabaseOp = "Retain"
	// OpMeasureFreeze measures, right after a switch, how long the
	// abandoned side refused writes (dbrelease.FrozenFor).
	OpMeasureFreeze DatabaseOp = "MeasureFreeze"
	// OpCreate creates the first, empty database of a site that has none.
	OpCreate DatabaseOp = "Create"
	// OpAnalyze gathers the planner statistics of a database the site just
	// switched to, in the background: the final copy of a rehearsed
	// release goes live without them rather than refuse writes longer.
	OpAnalyze DatabaseOp = "Analyze"
)

// DatabaseStep is an operation on the database Name. What it did that
// status records comes back as a DatabaseOutcome.
type DatabaseStep struct {
	Op   DatabaseOp
	Name string
	// From is the source of a Copy.
	From string
	// SchemaRevision is what a Copy is made for.
	SchemaRevision string
	// Rehearsal: a Copy from a snapshot of the live source, by pg_dump
	// whatever spec.database.cloneMethod says (dbrelease.CloneSpec).
	Rehearsal bool
	// AnalyzeAfterSwitch: a Copy made inside a cutover's freeze; its
	// statistics are gathered after the switch (OpAnalyze), not before
	// its migration as for every other copy.
	AnalyzeAfterSwitch bool
	// SettleFirst: a Freeze before a copy; the database is vacuumed
	// first, while it still takes writes (dbrelease.Settle), so the copy
	// inside the freeze reads settled pages.
	SettleFirst bool
	// PrepareCopy: a Freeze before a Copy into this database, for
	// SchemaRevision; it is created empty before the freeze, when the
	// copy will restore a dump into it (dbrelease.PrepareCopy).
	PrepareCopy string
	// Baseline is the abandoned side's counters at the switch (ReportWrites).
	Baseline *v1.DatabaseCounters
	// Timeout bounds a CatchUp's wait inside the freeze.
	Timeout time.Duration
	// Method is how a Copy, and a Freeze's PrepareCopy, clone the
	// database (spec.database.cloneMethod; Dump for a rehearsal).
	Method v1.CloneMethod
	// Keep and Retain: a Retain drops the site's copies that are not in
	// Keep (the databases status.database names), but the newest Retain
	// of them.
	Keep   []string
	Retain int
}

// ColorDatabase is the database a color uses: <base>_<color>.
func ColorDatabase(base string, c v1.Color) string { return base + "_" + string(c) }

// DatabaseSecretName is the Secret with a color's DATABASE_* settings.
func DatabaseSecretName(site string, c v1.Color) string { return site + "-db-" + string(c) }

// DatabaseStatus is status.database with each color given the active
// database when status names none for it. ActiveName is empty until the
// planner chose the site's first database (dbFirst). Nil without
// spec.database.
func DatabaseStatus(s *v1.SiteDeployment) *v1.DatabaseStatus {
	spec := s.Spec.Database
	if spec == nil {
		return nil
	}
	d := s.Status.Database.DeepCopy()
	if d == nil {
		d = &v1.DatabaseStatus{}
	}
	if d.ActiveName == "" {
		d.SchemaRevision = spec.SchemaRevision
	}
	for _, c := range []v1.Color{v1.Blue, v1.Green} {
		if d.Name(c) == "" {
			d.SetName(c, d.ActiveName)
		}
	}
	return d
}

// dbFirst chooses the database of a site that has none in status yet:
// with nothing of the site on the server, <base>_blue, created empty; an
// existing database named exactly <base>, adopted as it is (a site moved
// to understudy); <base>_blue alone, used (made by an earlier attempt).
// Anything else is ambiguous, and the site stops with a condition that
// says what was found instead of starting on the wrong data.
func (p *planner) dbFirst() bool {
	d, base := p.st.Database, p.spec.Database.Name
	blue := ColorDatabase(base, v1.Blue)
	var found []string
	if p.in.Database != nil {
		found = p.in.Database.Existing
	}
	var name string
	switch {
	case len(found) == 0:
		name = blue
		p.dbStep(DatabaseStep{Op: OpCreate, Name: blue})
		p.event(false, v1.EventDatabaseCreated, fmt.Sprintf("no database of the site exists: created %s, empty", blue))
	case len(found) == 1 && found[0] == base:
		name = base
		p.event(false, v1.EventDatabaseAdopted, fmt.Sprintf("adopted the existing database %s for %s (nothing renamed or copied)", base, v1.Blue))
	case len(found) == 1 && found[0] == blue:
		name = blue
	default:
		p.reason = v1.ReasonDatabaseAmbiguous
		p.set(v1.PhaseDegraded, fmt.Sprintf("status.database names no database yet, and the server has several of this site: %s. "+
			"understudy will not guess which one is live, nor start on an empty one: keep the live one as %s "+
			"(ALTER DATABASE ... RENAME TO %s) and rename or drop the others; it is then adopted (checked again every minute)", strings.Join(found, ", "), base, base))
		p.wakeAt(p.now.Add(time.Minute))
		return false
	}
	d.ActiveName, d.Blue, d.Green = name, name, name
	return true
}

// dbStep asks for s before any object is written.
func (p *planner) dbStep(s DatabaseStep) { p.plan.DatabaseSteps = append(p.plan.DatabaseSteps, s) }

// dbStepAfterSwitch asks for s after the Services were written.
func (p *planner) dbStepAfterSwitch(s DatabaseStep) {
	p.plan.AfterSwitchSteps = append(p.plan.AfterSwitchSteps, s)
}

// dbReady runs the database part of a release towards target on idle and
// tells whether the candidate may start. A release that keeps the schema
// revision shares the active database; a revert to the revision before a
// schema release goes back to its database, as an abort does. One that
// changes it stops the idle color and copies the active database into the
// idle color's, migrates the copy and only then lets the candidate start
// on it: with a rehearsal (spec.database.rehearse), first on a snapshot
// copy of the live database (dbRehearse), and after its promotion again
// under a freeze (dbFreezeAndCopy, the cutover); without one, under a
// freeze from the start. failed: the release was aborted.
func (p *planner) dbReady(activeColor, idle v1.Color, target string) (ready, failed bool) {
	d := p.st.Database
	if d == nil {
		return true, false
	}
	want := p.spec.Database.SchemaRevision
	switch {
	case want == d.SchemaRevision:
		p.dbCancel(idle)
		p.dbWritable()
		return p.repoint(idle, d.ActiveName), false
	case p.revertsToPrevious(idle, target):
		p.dbCancel(idle)
		p.dbWritable()
		return true, false
	}
	c := d.Candidate
	if c != nil && !p.sameRelease(c, idle, target) {
		p.dbCancel(idle)
		c = nil
		if ptr.Deref(p.spec.Database.Rehearse, true) {
			// The new release is rehearsed on the server as it will be
			// once the cancelled copy is gone: the next decision.
			p.dbWritable()
			p.set(v1.PhaseProgressing, fmt.Sprintf("schema revision %s: the release changed; rehearsing it anew", want))
			return false, false
		}
		// Without a rehearsal, the freeze stays for the next copy.
	}
	if c == nil {
		c = p.dbStart(idle, want)
	}
	switch {
	case Rehearsing(c):
		return p.dbRehearse(c, activeColor, idle, target)
	case c.Stage == v1.StageCuttingOver:
		return p.dbCutover(c, activeColor, idle, target)
	}
	return p.dbFreezeAndCopy(c, activeColor, idle, target)
}

// sameRelease tells whether the candidate database c is still the one of
// the release towards target: the same schema revision for the same color,
// the same migration as was rehearsed, and, once cutting over, the same
// revision that was approved (another one is rehearsed and approved anew).
func (p *planner) sameRelease(c *v1.DatabaseCandidate, idle v1.Color, target string) bool {
	return c.SchemaRevision == p.spec.Database.SchemaRevision && c.Color == idle &&
		(c.Migration == "" || c.Migration == p.migrationRevision()) &&
		(c.Stage != v1.StageCuttingOver || c.Revision == target)
}

// dbStart begins the candidate database of a schema-changing release. The
// copy takes the idle color's name, or the other one when shared releases
// left the active database under that name.
func (p *planner) dbStart(idle v1.Color, want string) *v1.DatabaseCandidate {
	d := p.st.Database
	name := ColorDatabase(p.spec.Database.Name, idle)
	if name == d.ActiveName {
		name = ColorDatabase(p.spec.Database.Name, idle.Other())
	}
	c := &v1.DatabaseCandidate{Name: name, Color: idle, SchemaRevision: want, Step: v1.StepFreezing, StartedAt: p.time()}
	d.Candidate = c
	if ptr.Deref(p.spec.Database.Rehearse, true) {
		c.Stage, c.Step = v1.StageRehearsing, v1.StepCopying
		p.event(false, v1.EventDatabaseRehearsalStarted, fmt.Sprintf("schema revision %s: rehearsing on a snapshot copy of %s in %s; %s keeps taking writes until the cutover",
			want, d.ActiveName, c.Name, d.ActiveName))
		return c
	}
	p.event(false, v1.EventDatabaseReleaseStarted, fmt.Sprintf("schema revision %s: freezing writes on %s to copy it to %s",
		want, d.ActiveName, c.Name))
	return c
}

// revertsToPrevious tells whether target is the revision that served
// before the last schema-changing release and still runs, warm, on the
// idle color with its database: a `git revert` of that release, switched
// back to like an abort (the writes since are reported). Anything else with
// another schema revision is a schema-changing release of its own.
func (p *planner) revertsToPrevious(idle v1.Color, target string) bool {
	d := p.st.Database
	return d.SwitchBaseline != nil && d.PreviousName != "" && p.spec.Database.SchemaRevision == d.PreviousSchemaRevision &&
		d.Name(idle) == d.PreviousName && p.in.Database.state(d.PreviousName).Exists &&
		p.promotedBefore(target) && p.runsReady(idle, target, p.spec.DesiredReplicas(), "", nil)
}

// candidateCopy reports whether copy is the candidate's copy of the active
// database, finished or being made: its rehearsal copy, or its copy for
// the current freeze; anything else under its name is someone else's and
// is never dropped.
func candidateCopy(activeName string, c *v1.DatabaseCandidate, active, copy dbstate.State) bool {
	switch {
	case !copy.Exists:
		return false
	case active.CopyingTo == c.Name, copy.RehearsalOf(activeName, c.SchemaRevision):
		return true
	case active.Frozen && !active.FrozenSince.IsZero():
		return copy.CopyOf(activeName, c.SchemaRevision, active.FrozenSince)
	default: // a rehearsal being made, or the final copy prepared, while the active database takes writes
		return copy.Unfinished() && copy.Marker.Source == activeName && copy.Marker.Revision == c.SchemaRevision
	}
}

// CandidateCopyIsOurs tells whether the candidate database named in status
// is the copy its release made (so it may be dropped when the release ends
// before the switch), from the servers' states of it and of the active one.
func CandidateCopyIsOurs(d *v1.DatabaseStatus, active, copy dbstate.State) bool {
	return d != nil && d.Candidate != nil && candidateCopy(d.ActiveName, d.Candidate, active, copy)
}
