package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Color is one of the two sides a SiteDeployment runs.
// +kubebuilder:validation:Enum=blue;green
type Color string

const (
	// Blue is the color a SiteDeployment starts on.
	Blue Color = "blue"
	// Green is the other color.
	Green Color = "green"
)

// Other returns the opposite color.
func (c Color) Other() Color {
	if c == Blue {
		return Green
	}
	return Blue
}

// CloneMethod is how a color's database is copied for a schema-changing release.
// +kubebuilder:validation:Enum=Dump;Template
type CloneMethod string

const (
	// CloneDump copies with pg_dump | pg_restore while the old side is read-only.
	CloneDump CloneMethod = "Dump"
	// CloneTemplate copies with CREATE DATABASE ... TEMPLATE (old side briefly disconnected).
	CloneTemplate CloneMethod = "Template"
)

// SiteDeploymentSpec is the desired state of a blue/green web service.
// +kubebuilder:validation:XValidation:rule="!has(self.strategy) || !has(self.strategy.previewReplicas) || self.strategy.previewReplicas <= (has(self.replicas) ? self.replicas : 1)",message="spec.strategy.previewReplicas must not exceed spec.replicas"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.database) || has(self.database)",message="spec.database cannot be removed once set: its databases (a frozen one included) would be left unmanaged; delete the SiteDeployment instead"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.database) || !has(self.database) || self.database.name == oldSelf.database.name",message="spec.database.name cannot change: the colors' databases are named after it"
// +kubebuilder:validation:XValidation:rule="!has(self.database) || !has(self.database.cutover) || !has(self.database.cutover.method) || self.database.cutover.method != 'Replicated' || !has(self.database.rehearse) || self.database.rehearse",message="spec.database.cutover.method Replicated needs spec.database.rehearse: the pre-promotion checks may write, and must never run against the database that goes live"
type SiteDeploymentSpec struct {
	// Replicas of the active color (and of a candidate once it is promoted).
	// Also served by the scale subresource; changing it resizes the active
	// color in place and starts no new revision.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Template of the pods. Every change of it is a new revision, started on
	// the idle color, checked, and promoted by one switch of the active
	// Service's selector.
	// +required
	Template corev1.PodTemplateSpec `json:"template"`

	// Service describes the active and preview Services.
	// +required
	Service ServiceSpec `json:"service"`

	// Strategy tunes promotion, soak time, checks and timeouts.
	// +kubebuilder:default={}
	// +optional
	Strategy StrategySpec `json:"strategy"`

	// Database, when set, gives each color its own PostgreSQL database and
	// turns a change of schemaRevision into a schema-changing release.
	// +optional
	Database *DatabaseSpec `json:"database,omitempty"`

	// Promotion is a promotion gate: a release starts only once upstream
	// sites (e.g. staging for production) ran its images, by digest, and
	// its schema revision, live, for a minimum time.
	// +optional
	Promotion *PromotionSpec `json:"promotion,omitempty"`

	// RevisionHistoryLimit is how many revisions are kept as
	// ControllerRevisions (and in status.history) for rollback.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// Paused stops all action: no scaling, no switching, no checks.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// ServiceSpec describes the two Services of a SiteDeployment.
// +kubebuilder:validation:XValidation:rule="!has(self.activeName) || !has(self.previewName) || size(self.activeName) == 0 || self.activeName != self.previewName",message="spec.service.activeName and spec.service.previewName must differ"
type ServiceSpec struct {
	// Ports of both Services. The first port is the one check Jobs call.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=port
	// +required
	Ports []ServicePort `json:"ports"`

	// Type of both Services.
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// ActiveName is the name of the Service that takes production traffic.
	// Empty means metadata.name.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z]([-a-z0-9]*[a-z0-9])?)?$`
	// +optional
	ActiveName string `json:"activeName,omitempty"`

	// PreviewName is the name of the Service in front of the candidate.
	// Empty means <metadata.name>-preview.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z]([-a-z0-9]*[a-z0-9])?)?$`
	// +optional
	PreviewName string `json:"previewName,omitempty"`
}

// ServicePort is one port of the active and preview Services.
type ServicePort struct {
	// Name of the port; required when there is more than one.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	// +optional
	Name string `json:"name,omitempty"`

	// Port the Services listen on.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port int32 `json:"port"`

	// TargetPort on the pods: a number or a named container port. Defaults to port.
	// +optional
	TargetPort *intstr.IntOrString `json:"targetPort,omitempty"`

	// Protocol of the port.
	// +kubebuilder:default=TCP
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	// +optional
	Protocol corev1.Protocol `json:"protocol,omitempty"`
}

// StrategySpec tunes how a candidate is promoted.
type StrategySpec struct {
	// Group names the release group this site belongs to: the sites of
	// this namespace that name the same group are released as one (none
	// switches until every changed member is ready, checked and approved;
	// a failure of one takes the others back). A group never spans
	// namespaces.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Group string `json:"group,omitempty"`

	// AutoPromote switches traffic to a candidate once it is fully available
	// (and its checks passed) and autoPromoteAfter has elapsed. When false,
	// the candidate waits for the deploy.understudy.dev/promote annotation
	// naming its revision.
	// +kubebuilder:default=true
	// +optional
	AutoPromote *bool `json:"autoPromote,omitempty"`

	// AutoPromoteAfter is the soak time once the candidate is fully available.
	// +kubebuilder:default="0s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	AutoPromoteAfter *metav1.Duration `json:"autoPromoteAfter,omitempty"`

	// PreviewReplicas is the candidate's size before promotion; it is scaled
	// to spec.replicas (and must be fully available) before the switch.
	// Unset means spec.replicas.
	// +kubebuilder:validation:Minimum=1
	// +optional
	PreviewReplicas *int32 `json:"previewReplicas,omitempty"`

	// Preview are settings a candidate's pods get only while they are not
	// live, e.g. outgoing mail or payments off while it is checked: its
	// preview pods run with them, and the scale-up before the switch drops
	// them (still on the checked digests). They are not part of the
	// revision.
	// +optional
	Preview *PreviewSettings `json:"preview,omitempty"`

	// ScaleDownDelay is how long the old color stays at full size after a
	// switch, so that a rollback is one selector flip.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	ScaleDownDelay *metav1.Duration `json:"scaleDownDelay,omitempty"`

	// ProgressDeadline is how long a candidate may take to become fully
	// available; past it the revision is aborted and the object is Degraded.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`

	// PrePromotion is a check (a Job or metrics) that must pass before the switch.
	// +optional
	PrePromotion *CheckSpec `json:"prePromotion,omitempty"`

	// PostPromotion is a check run after the switch; when it fails,
	// traffic goes straight back to the old color, which is still warm.
	// +optional
	PostPromotion *CheckSpec `json:"postPromotion,omitempty"`

	// Soak are metric checks measured on the candidate at full size
	// during autoPromoteAfter, before the switch: a failure aborts the
	// release, and the switch waits until they passed.
	// +optional
	Soak *SoakSpec `json:"soak,omitempty"`
}

// CheckSpec checks a candidate, either with a Job or by reading metrics.
// A Job's pods get PREVIEW_URL, ACTIVE_URL, REVISION and COLOR in their
// environment. A Job that ends early because the app crashed counts as
// failed: only a Job whose pods all succeeded passes. Metric checks
// (metrics) query Prometheus or a web endpoint at an interval and judge
// each result with a CEL condition (sitedeployment_analysis.go).
// +kubebuilder:validation:XValidation:rule="has(self.template) != has(self.metrics)",message="a check is either a Job (template) or metric checks (metrics): set exactly one of them"
type CheckSpec struct {
	// Template of the check's pod. restartPolicy is forced to Never.
	// +optional
	Template corev1.PodTemplateSpec `json:"template,omitzero"`

	// Metrics are checks that read metrics instead of running a Job: all
	// of them must pass. See docs/sitedeployment.md.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	// +optional
	Metrics []MetricCheck `json:"metrics,omitempty"`

	// Timeout of a Job check; a Job still running then has failed. Metric
	// checks end when their count of measurements is taken.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// BackoffLimit is how many times a failed check pod is retried.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
}

// DatabaseSpec gives each color its own PostgreSQL database.
type DatabaseSpec struct {
	// ConnectionSecretRef names the admin connection Secret (keys host, port,
	// username, password, sslmode optional).
	// +required
	ConnectionSecretRef SecretReference `json:"connectionSecretRef"`

	// AppSecretRef names a Secret (keys username, password) with the role
	// the site's pods and its migration Jobs connect as. Without it they get
	// the admin connection's role, which is not recommended: an admin may
	// lift a write freeze for its own sessions.
	// +optional
	AppSecretRef *SecretReference `json:"appSecretRef,omitempty"`

	// Name is the base name; the colors use <name>_blue and <name>_green.
	// A PostgreSQL identifier of lowercase letters, digits and underscores,
	// leaving room for the color suffix within 63 bytes.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=57
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_]*$`
	// +required
	Name string `json:"name"`

	// SchemaRevision marks the schema the template expects; changing it
	// makes the release a schema-changing one (freeze, copy, migrate).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	SchemaRevision string `json:"schemaRevision"`

	// Migration runs the upgrade scripts against the new color's copy before
	// the candidate starts.
	// +optional
	Migration *MigrationSpec `json:"migration,omitempty"`

	// CloneMethod is how the old color's database is copied for the
	// cutover (the copy made under the write freeze). A rehearsal copy is
	// always made with pg_dump, from a snapshot of the live database.
	// +kubebuilder:default=Dump
	// +optional
	CloneMethod CloneMethod `json:"cloneMethod,omitempty"`

	// Rehearse, true by default, runs a schema-changing release first on a
	// copy taken from a snapshot of the live database, which keeps taking
	// writes: the migration Job, the candidate at preview size, its
	// pre-promotion check and the wait for approval all happen there.
	// Only the cutover that follows (freeze, final copy, the same
	// migration, the candidate at full size, switch) refuses writes.
	// false freezes the live database from the start of the release to
	// its switch. A change applies to releases that begin afterwards.
	// +kubebuilder:default=true
	// +optional
	Rehearse *bool `json:"rehearse,omitempty"`

	// CopyTimeout bounds freezing and copying the active database for a
	// schema-changing release; a copy still running then has failed, and
	// the old side is writable again.
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	CopyTimeout *metav1.Duration `json:"copyTimeout,omitempty"`

	// Cutover chooses how a rehearsed release's cutover makes the next
	// database: Copy (the default) or Replicated (docs/sitedeployment.md,
	// "The replicated cutover").
	// +optional
	Cutover *CutoverSpec `json:"cutover,omitempty"`

	// RetainPrevious is how many previous color databases are kept (read-only) for rollback.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	RetainPrevious *int32 `json:"retainPrevious,omitempty"`
}

// MigrationSpec is the Job that upgrades a copied database.
type MigrationSpec struct {
	// Template of the migration pod. It receives the DATABASE_* variables of
	// the new color. restartPolicy is forced to Never.
	// +required
	Template corev1.PodTemplateSpec `json:"template"`

	// Timeout of the migration; a migration still running then has failed.
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SiteDeployment runs a web service as two colors and releases new revisions
// blue/green: started beside the live one, checked, promoted by one switch of
// a Service selector, with the old color kept warm for a one-flip rollback.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=sdep,categories={all,understudy}
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeColor`
// +kubebuilder:printcolumn:name="Active-Rev",type=string,JSONPath=`.status.activeRevision`
// +kubebuilder:printcolumn:name="Preview-Rev",type=string,JSONPath=`.status.previewRevision`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.ready`
// +kubebuilder:printcolumn:name="Database",type=string,JSONPath=`.status.database.activeName`,priority=1
// +kubebuilder:printcolumn:name="DB-Stage",type=string,JSONPath=`.status.database.candidate.stage`,priority=1
// +kubebuilder:printcolumn:name="DB-Step",type=string,JSONPath=`.status.database.candidate.step`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="(has(self.spec.service.activeName) && size(self.spec.service.activeName) > 0 ? self.spec.service.activeName : self.metadata.name) != (has(self.spec.service.previewName) && size(self.spec.service.previewName) > 0 ? self.spec.service.previewName : self.metadata.name + '-preview')",message="spec.service.activeName and spec.service.previewName resolve to the same Service name"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.promotion) || self.spec.promotion.upstreams.all(u, u.name != self.metadata.name || (has(u.namespace) && size(u.namespace) > 0))",message="spec.promotion.upstreams must not name this SiteDeployment itself"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 57",message="metadata.name must be at most 57 characters so that <name>-green and <name>-preview are valid names"
type SiteDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec SiteDeploymentSpec `json:"spec"`
	// +optional
	Status SiteDeploymentStatus `json:"status,omitempty"`
}

// SiteDeploymentList is a list of SiteDeployments.
// +kubebuilder:object:root=true
type SiteDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SiteDeployment `json:"items"`
}

// DesiredReplicas is spec.replicas, 1 when unset.
func (s *SiteDeploymentSpec) DesiredReplicas() int32 {
	if s.Replicas == nil {
		return 1
	}
	return *s.Replicas
}

func init() {
	SchemeBuilder.Register(&SiteDeployment{}, &SiteDeploymentList{})
}
