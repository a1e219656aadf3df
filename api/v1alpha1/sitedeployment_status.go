package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SiteDeploymentPhase summarises where a release stands.
// +kubebuilder:validation:Enum=Pending;Progressing;AwaitingPromotion;Promoting;Healthy;Degraded;Aborted;Paused
type SiteDeploymentPhase string

// Phases of a SiteDeployment, in the order a release passes through them.
const (
	PhasePending           SiteDeploymentPhase = "Pending"
	PhaseProgressing       SiteDeploymentPhase = "Progressing"
	PhaseAwaitingPromotion SiteDeploymentPhase = "AwaitingPromotion"
	PhasePromoting         SiteDeploymentPhase = "Promoting"
	PhaseHealthy           SiteDeploymentPhase = "Healthy"
	PhaseDegraded          SiteDeploymentPhase = "Degraded"
	PhaseAborted           SiteDeploymentPhase = "Aborted"
	PhasePaused            SiteDeploymentPhase = "Paused"
)

// RevisionOutcome is how a revision in the history ended.
// +kubebuilder:validation:Enum=Promoted;Aborted;Failed;Superseded;RolledBack
type RevisionOutcome string

// Outcomes recorded in status.history.
const (
	OutcomePromoted   RevisionOutcome = "Promoted"
	OutcomeAborted    RevisionOutcome = "Aborted"
	OutcomeFailed     RevisionOutcome = "Failed"
	OutcomeSuperseded RevisionOutcome = "Superseded"
	OutcomeRolledBack RevisionOutcome = "RolledBack"
)

// SiteDeploymentStatus is what the controller observed and decided.
type SiteDeploymentStatus struct {
	// ObservedGeneration is the generation the controller fully handled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase summarises the release.
	// +optional
	Phase SiteDeploymentPhase `json:"phase,omitempty"`

	// Message says in words what is happening or what went wrong.
	// +optional
	Message string `json:"message,omitempty"`

	// Replicas is the number of pods of the active color (scale subresource).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas is the number of available pods of the active color.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// Ready is "available/desired" of the active color, for kubectl.
	// +optional
	Ready string `json:"ready,omitempty"`

	// Selector is the active pods' label selector (scale subresource).
	// +optional
	Selector string `json:"selector,omitempty"`

	// ActiveColor is the color behind the active Service.
	// +optional
	ActiveColor Color `json:"activeColor,omitempty"`

	// ActiveRevision is the revision served by the active Service now.
	// +optional
	ActiveRevision string `json:"activeRevision,omitempty"`

	// PreviewColor is the color of the candidate (or the warm old color).
	// +optional
	PreviewColor Color `json:"previewColor,omitempty"`

	// PreviewRevision is the candidate revision; empty when there is none.
	// +optional
	PreviewRevision string `json:"previewRevision,omitempty"`

	// CurrentRevision is the revision of spec.template.
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`

	// AbortedRevision is the revision rejected by an abort or a failed check.
	// +optional
	AbortedRevision string `json:"abortedRevision,omitempty"`

	// AbortReason is the condition reason of the abort: Aborted (by a
	// person), PrePromotionFailed, PostPromotionFailed, CheckTimedOut or
	// ProgressDeadlineExceeded.
	// +optional
	AbortReason string `json:"abortReason,omitempty"`

	// PreviewStartedAt is when the candidate was started on the idle color.
	// +optional
	PreviewStartedAt *metav1.Time `json:"previewStartedAt,omitempty"`

	// PreviewReadyAt is when the candidate first had all its replicas available.
	// +optional
	PreviewReadyAt *metav1.Time `json:"previewReadyAt,omitempty"`

	// PromotionReadyAt is when the candidate was fully available at full
	// size with its checks passed: autoPromoteAfter counts from here.
	// +optional
	PromotionReadyAt *metav1.Time `json:"promotionReadyAt,omitempty"`

	// ScaleUpStartedAt is when the approved candidate began scaling from
	// previewReplicas to replicas (or lost availability at full size);
	// progressDeadline applies again from here.
	// +optional
	ScaleUpStartedAt *metav1.Time `json:"scaleUpStartedAt,omitempty"`

	// PostPromotionRevision is the active revision whose post-promotion
	// check has not passed yet; the old color is kept warm until it has.
	// +optional
	PostPromotionRevision string `json:"postPromotionRevision,omitempty"`

	// LastSwitchTime is when the active Service's selector last changed.
	// +optional
	LastSwitchTime *metav1.Time `json:"lastSwitchTime,omitempty"`

	// RestartedAt is the last restart request (annotation) that was honoured.
	// +optional
	RestartedAt string `json:"restartedAt,omitempty"`

	// History lists revisions, newest first, at most revisionHistoryLimit.
	// +optional
	History []RevisionRecord `json:"history,omitempty"`

	// Database reports the per-color databases of schema-changing releases.
	// +optional
	Database *DatabaseStatus `json:"database,omitempty"`

	// Conditions: Ready, Progressing, Degraded (and Reconciling, Stalled for kstatus).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RevisionRecord is one entry of status.history.
type RevisionRecord struct {
	// Revision is the template hash.
	Revision string `json:"revision"`
	// Images are the container images of the revision.
	// +optional
	Images []string `json:"images,omitempty"`
	// PromotedAt is when the revision took traffic, if it did.
	// +optional
	PromotedAt *metav1.Time `json:"promotedAt,omitempty"`
	// Outcome is how the revision ended.
	// +optional
	Outcome RevisionOutcome `json:"outcome,omitempty"`
}

// DatabaseStatus reports the databases of a SiteDeployment.
type DatabaseStatus struct {
	// ActiveName is the database behind the active color.
	// +optional
	ActiveName string `json:"activeName,omitempty"`
	// FrozenSince is when the old side became read-only (write freeze window).
	// +optional
	FrozenSince *metav1.Time `json:"frozenSince,omitempty"`
	// WritesSinceSwitch counts transactions committed on the new side since the switch.
	// +optional
	WritesSinceSwitch int64 `json:"writesSinceSwitch,omitempty"`
	// SchemaRevision is the schema revision of the active database.
	// +optional
	SchemaRevision string `json:"schemaRevision,omitempty"`
}
