package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The status of a SiteDeployment's databases (status.database), and of a
// schema-changing release in progress.

// DatabaseStatus reports the databases of a SiteDeployment. It is also the
// controller's memory of a schema-changing release in progress: every step
// is recorded here or in the server (freeze, copy markers), so a restarted
// manager continues where it stopped.
type DatabaseStatus struct {
	// ActiveName is the database behind the active color.
	// +optional
	ActiveName string `json:"activeName,omitempty"`
	// SchemaRevision is the schema revision of the active database.
	// +optional
	SchemaRevision string `json:"schemaRevision,omitempty"`
	// Blue and Green are the databases each color's pods are given (their
	// DATABASE_* Secret).
	// +optional
	Blue string `json:"blue,omitempty"`
	// +optional
	Green string `json:"green,omitempty"`
	// PreviousName is the database the previous revision served from, kept
	// read-only for rollback; empty when it shares ActiveName.
	// +optional
	PreviousName string `json:"previousName,omitempty"`
	// PreviousSchemaRevision is the schema revision of PreviousName.
	// +optional
	PreviousSchemaRevision string `json:"previousSchemaRevision,omitempty"`
	// Candidate is the copy being prepared for a schema-changing release.
	// +optional
	Candidate *DatabaseCandidate `json:"candidate,omitempty"`
	// FrozenSince is when the old side became read-only (write freeze window).
	// +optional
	FrozenSince *metav1.Time `json:"frozenSince,omitempty"`
	// WritesSinceSwitch counts the rows the abandoned side's user tables
	// had inserted, updated or deleted between the switch to it and the
	// switch back (the system catalogs, written by ANALYZE and VACUUM, are
	// not counted): reported when a schema-changing release is rolled
	// back, as they are not carried back.
	// +optional
	WritesSinceSwitch int64 `json:"writesSinceSwitch,omitempty"`
	// SwitchBaseline is the active database's row counters at the switch.
	// +optional
	SwitchBaseline *DatabaseCounters `json:"switchBaseline,omitempty"`
	// LastCutover is how the last schema-changing release that switched
	// made its database, and why when not as asked.
	// +optional
	LastCutover *CutoverStatus `json:"lastCutover,omitempty"`
	// LastFreezeDuration is how long the last schema-changing release that
	// switched refused writes: from the freeze to the switch, by the
	// database server's clock.
	// +optional
	LastFreezeDuration *metav1.Duration `json:"lastFreezeDuration,omitempty"`
}

// DatabaseStage is where a schema-changing release with a rehearsal
// (spec.database.rehearse) stands; empty for one without a rehearsal,
// which refuses writes from its start to its switch.
// +kubebuilder:validation:Enum=Rehearsing;AwaitingPromotion;CuttingOver
type DatabaseStage string

const (
	// StageRehearsing: the rehearsal copy is made from a snapshot of the
	// live database (which keeps taking writes), migrated, and the
	// candidate starts and is checked on it.
	StageRehearsing DatabaseStage = "Rehearsing"
	// StageAwaitingPromotion: the rehearsal passed; the candidate waits
	// for approval (or autoPromoteAfter) on the rehearsal copy, while the
	// live database keeps taking writes.
	StageAwaitingPromotion DatabaseStage = "AwaitingPromotion"
	// StageCuttingOver: approved; the candidate's preview pods stop, the
	// live database is frozen and copied again, the same migration runs
	// on the final copy, the candidate starts on it at full size and
	// takes traffic. Writes are refused from the freeze to the switch.
	StageCuttingOver DatabaseStage = "CuttingOver"
)

// CandidateStep is where a schema-changing release is with its candidate
// database (not to be confused with the planner's database steps, the
// operations it asks the controller to run).
// +kubebuilder:validation:Enum=Freezing;Copying;Replicating;Migrating;Ready
type CandidateStep string

const (
	// StepFreezing: the active database is being made read-only (and,
	// in a cutover, the candidate's preview pods stop and the rehearsal
	// copy is dropped first).
	StepFreezing CandidateStep = "Freezing"
	// StepCopying: the active database is being copied: from a snapshot
	// while it takes writes (a rehearsal), or frozen.
	StepCopying CandidateStep = "Copying"
	// StepReplicating: a Replicated cutover's next database is made and
	// copies every table while it follows the live one, which keeps
	// taking writes.
	StepReplicating CandidateStep = "Replicating"
	// StepMigrating: the migration Job runs against the copy.
	StepMigrating CandidateStep = "Migrating"
	// StepReady: the copy is migrated; the candidate may start on it.
	StepReady CandidateStep = "Ready"
)

// DatabaseCandidate is the new color's database during a schema-changing release.
type DatabaseCandidate struct {
	// Name of the copy.
	Name string `json:"name"`
	// Color whose pods will use it.
	Color Color `json:"color"`
	// SchemaRevision the copy is migrated to.
	SchemaRevision string `json:"schemaRevision"`
	// Step of the release.
	Step CandidateStep `json:"step"`
	// Stage of a release with a rehearsal: Rehearsing, AwaitingPromotion,
	// CuttingOver; empty for a release without one.
	// +optional
	Stage DatabaseStage `json:"stage,omitempty"`
	// Revision is the site revision the cutover was approved for; another
	// revision during the cutover starts over with a rehearsal.
	// +optional
	Revision string `json:"revision,omitempty"`
	// StartedAt is when the current copy began (the rehearsal's, or the
	// cutover's freeze); copyTimeout counts from here.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// MigrationJob is the Job upgrading the copy, once created.
	// +optional
	MigrationJob string `json:"migrationJob,omitempty"`
	// Cutover is how this release's cutover makes the next database, once
	// it began.
	// +optional
	Cutover *CutoverStatus `json:"cutover,omitempty"`
	// Migration is the revision (hash) of spec.database.migration's pod
	// template that ran on the rehearsal copy: the cutover runs the same
	// one, and a change starts the rehearsal over.
	// +optional
	Migration string `json:"migration,omitempty"`
}

// CutoverStatus says how a cutover makes the next database.
type CutoverStatus struct {
	// Method is Copy or Replicated.
	Method CutoverMethod `json:"method"`
	// Reason says why a Replicated cutover fell back to Copy (what
	// replication could not carry); empty when the method is as asked.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// DatabaseCounters are the statistics counters of one incarnation of a
// database, read at the switch to it.
type DatabaseCounters struct {
	// OID of the database: another incarnation has other counters.
	OID int64 `json:"oid"`
	// RowsWritten is how many rows the database's user tables had had
	// inserted, updated and deleted (pg_stat_user_tables; the system
	// catalogs, which ANALYZE and VACUUM write to, are not counted).
	// Absent when it could not be read at the switch.
	// +optional
	RowsWritten *int64 `json:"rowsWritten,omitempty"`
	// StatsReset is when the counters were last reset.
	// +optional
	StatsReset *metav1.Time `json:"statsReset,omitempty"`
}

// Name returns the database a color's pods are given.
func (d *DatabaseStatus) Name(c Color) string {
	if c == Green {
		return d.Green
	}
	return d.Blue
}

// SetName sets the database a color's pods are given.
func (d *DatabaseStatus) SetName(c Color, name string) {
	if c == Green {
		d.Green = name
	} else {
		d.Blue = name
	}
}
