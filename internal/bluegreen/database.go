package bluegreen

import (
	"fmt"
	"strings"
	"time"

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
	// Existing lists the site's databases on the server (dbrelease.
	// SiteDatabases), read only while status.database names none yet.
	Existing []string
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
	OpStopCopy     DatabaseOp = "StopCopy"
	OpReportWrites DatabaseOp = "ReportWrites"
	OpRetain       DatabaseOp = "Retain"
	// OpCreate creates the first, empty database of a site that has none.
	OpCreate DatabaseOp = "Create"
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
	// Baseline is the abandoned side's counters at the switch (ReportWrites).
	Baseline *v1.DatabaseCounters
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
// changes it stops the idle color, freezes the active database, copies it
// into the idle color's, migrates the copy and only then lets the candidate
// start on it. failed: the release was aborted.
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
		p.event(false, v1.EventDatabaseReleaseStarted, fmt.Sprintf("schema revision %s: freezing writes on %s to copy it to %s",
			want, d.ActiveName, c.Name))
	}
	// The idle color's pods stop first: they must not reconnect to a
	// database that changes under their name. (Once this candidate is
	// migrating or ready, the idle color's pods are its own.)
	if c.Step != v1.StepMigrating && c.Step != v1.StepReady && !p.stopPods(idle) {
		p.set(v1.PhaseProgressing, fmt.Sprintf("schema revision %s: stopping %s's pods before its database is replaced", want, idle))
		return false, false
	}
	active, copy := p.in.Database.state(d.ActiveName), p.in.Database.state(c.Name)
	frozen := active.Frozen && !active.FrozenSince.IsZero()
	complete := frozen && copy.CopyOf(d.ActiveName, want, active.FrozenSince) && copy.Marker.Role == dbrelease.RoleCopy && !p.in.Database.Copying
	if !complete && p.copyTimedOut(c) {
		p.abort(target, v1.ReasonCopyFailed, fmt.Sprintf("freezing and copying %s to %s did not finish within copyTimeout (%s); %s keeps serving %s, writable again",
			d.ActiveName, c.Name, p.copyTimeout(), activeColor, d.ActiveName))
		return false, true
	}
	if copy.Exists && !candidateCopy(d.ActiveName, c, active, copy) {
		// An older database holds the name (a previous release's, kept
		// for rollback, or an adopted one): it stays, under another name.
		p.dbStep(DatabaseStep{Op: OpMoveAside, Name: c.Name})
	}
	if !frozen {
		p.dbStep(DatabaseStep{Op: OpFreeze, Name: d.ActiveName})
		c.Step = v1.StepFreezing
		p.set(v1.PhaseProgressing, fmt.Sprintf("schema revision %s: freezing writes on %s", want, d.ActiveName))
		return false, false
	}
	if !complete {
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
	d.SetName(idle, c.Name) // its pods are stopped
	if c.Step != v1.StepReady && p.spec.Database.Migration != nil {
		if done, failed := p.migrate(c, copy, target, activeColor); !done {
			return false, failed
		}
	}
	c.Step = v1.StepReady
	return true, false
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
		p.promotedBefore(target) && readyAt(p.in.Deployments[idle], target, p.spec.DesiredReplicas())
}

// candidateCopy reports whether copy is the candidate's copy of the active
// database for the current freeze, finished or being made; anything else
// under its name is someone else's and is never dropped.
func candidateCopy(activeName string, c *v1.DatabaseCandidate, active, copy dbrelease.State) bool {
	if !copy.Exists || !active.Frozen || active.FrozenSince.IsZero() {
		return false
	}
	return active.CopyingTo == c.Name || copy.CopyOf(activeName, c.SchemaRevision, active.FrozenSince)
}

// CandidateCopyIsOurs tells whether the candidate database named in status
// is the copy its release made (so it may be dropped when the release ends
// before the switch), from the servers' states of it and of the active one.
func CandidateCopyIsOurs(d *v1.DatabaseStatus, active, copy dbrelease.State) bool {
	return d != nil && d.Candidate != nil && candidateCopy(d.ActiveName, d.Candidate, active, copy)
}

func (p *planner) copyTimeout() time.Duration {
	return durationOr(p.spec.Database.CopyTimeout, 30*time.Minute)
}

// copyTimedOut tells whether copyTimeout has passed since the release began
// freezing, and asks to be woken when it will.
func (p *planner) copyTimedOut(c *v1.DatabaseCandidate) bool {
	if c.StartedAt == nil {
		return false
	}
	end := c.StartedAt.Add(p.copyTimeout())
	p.wakeAt(end)
	return !p.now.Before(end)
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
