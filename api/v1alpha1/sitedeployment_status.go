package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SiteDeploymentPhase summarises where a release stands.
// +kubebuilder:validation:Enum=Pending;Progressing;AwaitingUpstream;AwaitingPromotion;AwaitingGroup;Promoting;Healthy;Degraded;Aborted;Paused
type SiteDeploymentPhase string

// Phases of a SiteDeployment, in the order a release passes through them.
const (
	PhasePending           SiteDeploymentPhase = "Pending"
	PhaseProgressing       SiteDeploymentPhase = "Progressing"
	PhaseAwaitingUpstream  SiteDeploymentPhase = "AwaitingUpstream"
	PhaseAwaitingPromotion SiteDeploymentPhase = "AwaitingPromotion"
	// PhaseAwaitingGroup: the candidate is ready, checked and approved;
	// its switch waits for the other members of its release group.
	PhaseAwaitingGroup SiteDeploymentPhase = "AwaitingGroup"
	PhasePromoting     SiteDeploymentPhase = "Promoting"
	PhaseHealthy       SiteDeploymentPhase = "Healthy"
	PhaseDegraded      SiteDeploymentPhase = "Degraded"
	PhaseAborted       SiteDeploymentPhase = "Aborted"
	PhasePaused        SiteDeploymentPhase = "Paused"
)

// RevisionOutcome is how a revision in the history ended.
// +kubebuilder:validation:Enum=Promoted;Aborted;Failed;Superseded;RolledBack
type RevisionOutcome string

// Outcomes recorded in status.history: Promoted (took traffic), Aborted
// (by a person before it took traffic), Failed (a check, the deadline, the
// copy or the migration failed before it took traffic), Superseded (a
// newer template replaced the candidate), RolledBack (it took traffic,
// was aborted or failed its post-promotion check, and traffic went back).
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

	// PreviewDigests are the images the candidate's preview pods resolved
	// (their imageIDs), recorded when they first ran and were Ready: the
	// bits the checks ran against. The full-size scale-up runs exactly
	// these (image@digest), and history keeps them.
	// +optional
	PreviewDigests []PinnedImage `json:"previewDigests,omitempty"`

	// PreviewDigestsFrom says where previewDigests came from: Registry,
	// the tags resolved before the candidate's first pod, which then runs
	// image@digest from the start (one rollout per release); or Pods, read
	// from its Ready preview pods when the registry could not be asked
	// (event DigestsFromPods says why).
	// +optional
	PreviewDigestsFrom DigestSource `json:"previewDigestsFrom,omitempty"`

	// CurrentRevision is the revision of spec.template.
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`

	// AbortedRevision is the revision rejected by an abort or a failed check.
	// +optional
	AbortedRevision string `json:"abortedRevision,omitempty"`

	// RollbackRevision is the revision an abort of the live revision rolls
	// back to: the newest one in history that was promoted and not aborted
	// since. Empty while a candidate is in flight or when there is none, so
	// that tools (the kubectl plugin, Argo CD's actions) offer a rollback
	// exactly when the controller would accept it.
	// +optional
	RollbackRevision string `json:"rollbackRevision,omitempty"`

	// AbortReason is the condition reason of the abort: Aborted (by a
	// person), PrePromotionFailed, PostPromotionFailed, CheckTimedOut or
	// ProgressDeadlineExceeded.
	// +optional
	AbortReason string `json:"abortReason,omitempty"`

	// AbortMessage says why abortedRevision was rejected, and where to
	// look (the check or migration Job); status.message keeps saying it
	// after a rollback finished.
	// +optional
	AbortMessage string `json:"abortMessage,omitempty"`

	// AbortedAttempt names what abortedRevision was released with besides
	// its pod template: spec.database.migration, the checks, the progress
	// deadline and copyTimeout, each as a hash. Changing any of them (or
	// spec.template) releases the revision again as a new attempt.
	// +optional
	AbortedAttempt string `json:"abortedAttempt,omitempty"`

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

	// Analysis are the metric checks' runs of the current release: at
	// most one per kind (PrePromotion, Soak, PostPromotion), each with
	// its latest measurements.
	// +kubebuilder:validation:MaxItems=3
	// +optional
	Analysis []AnalysisStatus `json:"analysis,omitempty"`

	// LastSwitchTime is when the active Service's selector last changed.
	// +optional
	LastSwitchTime *metav1.Time `json:"lastSwitchTime,omitempty"`

	// Promotion is the promotion gate's decision for spec.template's
	// revision: what each upstream runs, and whether and how it qualified.
	// +optional
	Promotion *PromotionStatus `json:"promotion,omitempty"`

	// Group is this site's view of its release group
	// (spec.strategy.group): the group's phase and each member's state.
	// +optional
	Group *GroupStatus `json:"group,omitempty"`

	// Served remembers the revisions that took this site's traffic, newest
	// first (at most 16), for the promotion gates of the sites downstream
	// of it: a revision verified here keeps qualifying after this site
	// moved on, and one rolled back or aborted here never qualifies.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Served []ServedRevision `json:"served,omitempty"`

	// RestartedAt is the last restart request (annotation) that was honoured.
	// +optional
	RestartedAt string `json:"restartedAt,omitempty"`

	// History lists revisions, newest first, at most revisionHistoryLimit.
	// +optional
	History []RevisionRecord `json:"history,omitempty"`

	// Database reports the per-color databases of schema-changing releases.
	// +optional
	Database *DatabaseStatus `json:"database,omitempty"`

	// Actions are the controller's answers to the action annotations
	// (promote, abort): the value answered, accepted or refused, and why.
	// An annotation's value is answered once; removing the annotation
	// forgets the answer.
	// +listType=map
	// +listMapKey=annotation
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Actions []ActionStatus `json:"actions,omitempty"`

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
	// Digests are the images the revision ran when it took traffic,
	// resolved; a rollback starts it again on these.
	// +optional
	Digests []PinnedImage `json:"digests,omitempty"`
	// PromotedAt is when the revision took traffic, if it did.
	// +optional
	PromotedAt *metav1.Time `json:"promotedAt,omitempty"`
	// Outcome is how the revision ended.
	// +optional
	Outcome RevisionOutcome `json:"outcome,omitempty"`
	// SchemaRevision is spec.database.schemaRevision of the revision.
	// +optional
	SchemaRevision string `json:"schemaRevision,omitempty"`
	// Database is the database the revision served from when it took
	// traffic, for a site with spec.database.
	// +optional
	Database string `json:"database,omitempty"`
	// PromotionGate is how the revision passed spec.promotion's gate:
	// Qualified by its upstreams, or Skipped by a person with the
	// skip-promotion-gate annotation. Empty: the site has no gate, or the
	// revision did not go through it (a first revision, a rollback).
	// +optional
	PromotionGate PromotionGate `json:"promotionGate,omitempty"`
	// QualifiedBy names the upstreams that qualified the revision and the
	// revision each ran (<namespace>/<name>@<revision>).
	// +kubebuilder:validation:MaxItems=8
	// +optional
	QualifiedBy []string `json:"qualifiedBy,omitempty"`
	// Changes says what the revision changed from the one before it
	// (images, environment values, commands), or the pod template's
	// kubernetes.io/change-cause annotation when it has one.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Changes []string `json:"changes,omitempty"`
}

// DigestSource is where a candidate's digests came from.
// +kubebuilder:validation:Enum=Registry;Pods
type DigestSource string

const (
	// DigestsFromRegistry: the tags were resolved at the registry before
	// the candidate's first pod.
	DigestsFromRegistry DigestSource = "Registry"
	// DigestsFromPods: read from the candidate's Ready preview pods.
	DigestsFromPods DigestSource = "Pods"
)

// PinnedImage is a container's image as its pods resolved it.
type PinnedImage struct {
	// Container is the container's name.
	Container string `json:"container"`
	// Image is the image as spec.template names it.
	Image string `json:"image"`
	// Digest is the content digest the pods ran (sha256:...).
	// +kubebuilder:validation:Pattern=`^sha(256|384|512):[a-f0-9]{64,128}$`
	Digest string `json:"digest"`
}

// ActionResult is the controller's answer to an action annotation.
// +kubebuilder:validation:Enum=Accepted;Refused
type ActionResult string

// Answers to action annotations.
const (
	// ActionAccepted: the action applies and was (or will be) carried out.
	ActionAccepted ActionResult = "Accepted"
	// ActionRefused: the action does not apply; Message says why.
	ActionRefused ActionResult = "Refused"
)

// ActionStatus is the answer to one action annotation's value.
type ActionStatus struct {
	// Annotation is the action's annotation key.
	Annotation string `json:"annotation"`
	// Value is the annotation's value that was answered.
	Value string `json:"value"`
	// Result is Accepted or Refused.
	Result ActionResult `json:"result"`
	// Message says what was done, or why not.
	// +optional
	Message string `json:"message,omitempty"`
	// Time is when the value was answered.
	Time metav1.Time `json:"time"`
}
