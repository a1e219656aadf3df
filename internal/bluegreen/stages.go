package bluegreen

import (
	"sort"
)

// Stage is one part of applying a Plan. Stages is their order: the
// controller applies a plan by it, and so does the planner's simulator,
// so what the tests play is what runs.
type Stage string

const (
	// StageDatabase runs DatabaseSteps, before anything else is written.
	StageDatabase Stage = "DatabaseSteps"
	// StageDatabaseSecrets writes each color's database Secret.
	StageDatabaseSecrets Stage = "DatabaseSecrets"
	// StageDeleteJobs deletes DeleteJobs (a check Job of an earlier
	// release goes before its new one is created).
	StageDeleteJobs Stage = "DeleteJobs"
	// StageSwitchDatabase runs SwitchSteps (a replicated cutover's freeze
	// and catch-up) right before the objects; a failed one writes none.
	StageSwitchDatabase Stage = "SwitchSteps"
	// StageObjects stores Revisions, drops DropRevisions, and writes the
	// Deployments, the Services and the check Jobs.
	StageObjects Stage = "Objects"
	// StageAfterSwitch runs AfterSwitchSteps.
	StageAfterSwitch Stage = "AfterSwitchSteps"
	// StageStatus writes Status and sends Events.
	StageStatus Stage = "Status"
)

// Stages is the order a Plan is applied in.
var Stages = []Stage{StageDatabase, StageDatabaseSecrets, StageDeleteJobs, StageSwitchDatabase, StageObjects, StageAfterSwitch, StageStatus}

// dropRevisions lists the stored revisions (Observed.Templates) that
// neither status nor history names any more.
func (p *planner) dropRevisions() {
	keep := map[string]bool{p.st.CurrentRevision: true, p.st.ActiveRevision: true, p.st.PreviewRevision: true}
	for _, h := range p.st.History {
		keep[h.Revision] = true
	}
	for rev := range p.in.Templates {
		if !keep[rev] {
			p.plan.DropRevisions = append(p.plan.DropRevisions, rev)
		}
	}
	sort.Strings(p.plan.DropRevisions)
}
