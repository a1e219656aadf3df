package bluegreen

import (
	"fmt"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A rehearsed release's stages (status.database.candidate.stage): the
// candidate is checked and awaits approval on the rehearsal copy while the
// live database takes writes; its promotion begins the cutover, which the
// blue/green part then carries to the switch as for any approved
// candidate: the candidate scales up (from zero, on the final copy) and
// takes traffic once available.

// Rehearsing tells whether c is a rehearsal, before its cutover.
func Rehearsing(c *v1.DatabaseCandidate) bool {
	return c != nil && (c.Stage == v1.StageRehearsing || c.Stage == v1.StageAwaitingPromotion)
}

// dbRehearsing tells whether the candidate runs on a rehearsal copy.
func (p *planner) dbRehearsing() bool {
	return p.st.Database != nil && Rehearsing(p.st.Database.Candidate)
}

// dbCuttingOver tells whether rev was promoted and its cutover runs: it
// goes on to the switch whatever becomes of the promote annotation, and
// without a soak (that ran on the rehearsal).
func (p *planner) dbCuttingOver(rev string) bool {
	d := p.st.Database
	return d != nil && d.Candidate != nil && d.Candidate.Stage == v1.StageCuttingOver && d.Candidate.Revision == rev
}

// dbAwaitPromotion records that a rehearsed candidate passed its checks
// and waits for approval (or autoPromoteAfter).
func (p *planner) dbAwaitPromotion() {
	if !p.dbRehearsing() {
		return
	}
	c := p.st.Database.Candidate
	if old := p.site.Status.Database; old == nil || old.Candidate == nil || old.Candidate.Stage != v1.StageAwaitingPromotion {
		p.event(false, v1.EventDatabaseRehearsalPassed, fmt.Sprintf("schema revision %s: migrated, started and checked on the rehearsal copy %s; %s kept taking writes",
			c.SchemaRevision, c.Name, p.st.Database.ActiveName))
	}
	c.Stage = v1.StageAwaitingPromotion
}

// dbBeginCutover runs once a rehearsed candidate passed its checks and was
// approved, or is promoted automatically after autoPromoteAfter (which
// counts on the rehearsal, at preview size: the freeze never waits for
// it). The cutover stops the candidate's preview pods (stageStopped):
// they restart on the final copy.
func (p *planner) dbBeginCutover(c *candidate, promoted bool) candidateStage {
	if !promoted {
		if p.st.PromotionReadyAt == nil {
			p.st.PromotionReadyAt = p.time()
		}
		if end := p.st.PromotionReadyAt.Add(p.autoPromoteAfter()); p.now.Before(end) {
			p.wakeAt(end)
			p.dbAwaitPromotion()
			p.set(v1.PhasePromoting, fmt.Sprintf("revision %s soaking on the rehearsal copy until %s; the cutover follows",
				c.target, end.UTC().Format(time.RFC3339)))
			return stagePreview
		}
	}
	d := p.st.Database
	dc := d.Candidate
	dc.Stage, dc.Revision, dc.Step, dc.StartedAt, dc.MigrationJob = v1.StageCuttingOver, c.target, v1.StepFreezing, p.time(), ""
	p.st.PromotionReadyAt = nil
	p.event(false, v1.EventDatabaseCutoverStarted, fmt.Sprintf("revision %s promoted after its rehearsal: stopping its preview pods, then freezing %s, copying it to %s and migrating it again",
		c.target, d.ActiveName, dc.Name))
	p.set(v1.PhasePromoting, fmt.Sprintf("cutting over to schema revision %s: stopping the preview pods of %s", dc.SchemaRevision, c.target))
	return stageStopped
}

// dbProgress says what the database part of a release is doing.
func (p *planner) dbProgress(c *v1.DatabaseCandidate, what string) {
	switch c.Stage {
	case v1.StageRehearsing, v1.StageAwaitingPromotion:
		p.set(v1.PhaseProgressing, fmt.Sprintf("schema revision %s, rehearsing: %s", c.SchemaRevision, what))
	case v1.StageCuttingOver:
		p.set(v1.PhasePromoting, fmt.Sprintf("schema revision %s, cutting over: %s", c.SchemaRevision, what))
	default:
		p.set(v1.PhaseProgressing, fmt.Sprintf("schema revision %s: %s", c.SchemaRevision, what))
	}
}

// dbAbortNote says, in the message of an abort before the switch, what
// became of the live side: a rehearsal never froze it.
func (p *planner) dbAbortNote(c *v1.DatabaseCandidate, activeColor v1.Color) string {
	name := p.st.Database.ActiveName
	if Rehearsing(c) {
		return fmt.Sprintf("; nothing was frozen: %s keeps serving %s", activeColor, name)
	}
	return fmt.Sprintf("; %s keeps serving %s, writable again", activeColor, name)
}

// cutoverPrefix names the step in a cutover's failure: news a person must
// see, as the rehearsal passed.
func cutoverPrefix(c *v1.DatabaseCandidate) string {
	if c.Stage == v1.StageCuttingOver {
		return "cutover: "
	}
	return ""
}

// copyKind names the copy a migration ran on.
func copyKind(c *v1.DatabaseCandidate) string {
	switch {
	case Rehearsing(c):
		return "the rehearsal copy " + c.Name
	case c.Stage == v1.StageCuttingOver:
		return "the final copy " + c.Name + " (it passed on the rehearsal)"
	}
	return "the copy " + c.Name
}

// dbFrozenNote tells a person deciding on a schema-changing release
// whether the live site refuses writes until they do.
func (p *planner) dbFrozenNote() string {
	d := p.st.Database
	switch {
	case d == nil || d.Candidate == nil:
		return ""
	case Rehearsing(d.Candidate):
		return fmt.Sprintf(" (rehearsed on the copy %s: %s keeps taking writes until the cutover that follows the approval)",
			d.Candidate.Name, d.ActiveName)
	case d.FrozenSince == nil:
		return ""
	}
	return fmt.Sprintf(" (%s has refused writes since %s, until the switch or an abort)",
		d.ActiveName, d.FrozenSince.UTC().Format(time.RFC3339))
}
