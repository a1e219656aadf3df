package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PromotionSpec is a promotion gate: a release of this site starts only
// once its images (by digest) and schema revision have run on every
// upstream site, live, for minLiveDuration.
type PromotionSpec struct {
	// Upstreams are the SiteDeployments that must run a revision's images
	// (and schema revision) before this site may start it, e.g. staging
	// for production. All of them must qualify it.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +required
	Upstreams []UpstreamReference `json:"upstreams"`

	// MinLiveDuration is how long an upstream must have served the
	// images (taken traffic, its post-promotion check passed, not rolled
	// back) before this site starts a release of them. 0s: live and
	// healthy upstream is enough.
	// +kubebuilder:default="0s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	MinLiveDuration *metav1.Duration `json:"minLiveDuration,omitempty"`
}

// UpstreamReference names a SiteDeployment, in any namespace.
type UpstreamReference struct {
	// Namespace of the upstream SiteDeployment; empty means this site's.
	// +kubebuilder:default=""
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Name of the upstream SiteDeployment.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=57
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`
}

// PromotionGate is how a revision passed spec.promotion's gate.
// +kubebuilder:validation:Enum=Qualified;Skipped
type PromotionGate string

const (
	// GateQualified: every upstream ran the revision's images long enough.
	GateQualified PromotionGate = "Qualified"
	// GateSkipped: a person released it past the gate with the
	// skip-promotion-gate annotation.
	GateSkipped PromotionGate = "Skipped"
)

// PromotionStatus is the gate's decision for one revision of spec.template.
type PromotionStatus struct {
	// Revision the gate was decided for (spec.template's).
	Revision string `json:"revision"`
	// Gate is how the revision passed (Qualified or Skipped); empty while
	// it waits for its upstreams.
	// +optional
	Gate PromotionGate `json:"gate,omitempty"`
	// QualifiesAt is when the revision qualifies by time alone, when the
	// upstreams already run it but not yet for minLiveDuration.
	// +optional
	QualifiesAt *metav1.Time `json:"qualifiesAt,omitempty"`
	// Digests are the upstreams' digests of this revision's images: its
	// candidate runs image@digest from its first pod, exactly the bits
	// the upstreams ran, whatever the tags say later.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Digests []PinnedImage `json:"digests,omitempty"`
	// Upstreams say what each upstream runs and whether it qualifies the revision.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Upstreams []UpstreamStatus `json:"upstreams,omitempty"`
}

// UpstreamStatus is what one upstream runs, as the gate saw it.
type UpstreamStatus struct {
	// Namespace and Name of the upstream SiteDeployment.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Revision is the upstream revision the gate judged: the one that ran
	// this revision's images (live now, or earlier: see liveUntil), else
	// the upstream's active revision.
	// +optional
	Revision string `json:"revision,omitempty"`
	// Images are what that upstream revision ran: image@digest where it
	// recorded digests, else the image as its spec names it.
	// +optional
	Images []string `json:"images,omitempty"`
	// LiveSince is when that upstream revision took traffic.
	// +optional
	LiveSince *metav1.Time `json:"liveSince,omitempty"`
	// LiveUntil is when that upstream revision stopped taking traffic,
	// when the upstream has moved on since; unset while it serves.
	// +optional
	LiveUntil *metav1.Time `json:"liveUntil,omitempty"`
	// Qualified is true when this upstream qualifies the revision.
	Qualified bool `json:"qualified"`
	// Message says why the upstream does not qualify it, or that it does.
	// +optional
	Message string `json:"message,omitempty"`
}

// ServedRevision is what a site remembers of a revision that took its
// traffic, for the promotion gates of the sites downstream of it: the bits
// it ran, for how long, whether its post-promotion check passed, and
// whether it was rolled back or aborted. status.served outlives
// status.history (revisionHistoryLimit) and a manager restart.
type ServedRevision struct {
	// Revision is the template hash.
	Revision string `json:"revision"`
	// Images are the revision's container images as its spec names them.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Images []string `json:"images,omitempty"`
	// Digests are the images its pods ran, resolved.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Digests []PinnedImage `json:"digests,omitempty"`
	// SchemaRevision is spec.database.schemaRevision of the revision.
	// +optional
	SchemaRevision string `json:"schemaRevision,omitempty"`
	// LiveSince is when the revision last took traffic.
	LiveSince metav1.Time `json:"liveSince"`
	// LiveUntil is when another revision took traffic from it; unset
	// while it serves.
	// +optional
	LiveUntil *metav1.Time `json:"liveUntil,omitempty"`
	// VerifiedAt is when its post-promotion check passed (when it took
	// traffic, without one); unset while the check runs, or when it did
	// not pass.
	// +optional
	VerifiedAt *metav1.Time `json:"verifiedAt,omitempty"`
	// Rejected is the reason the revision was rejected once it had taken
	// traffic (Aborted, PostPromotionFailed, CheckTimedOut, ...): rolled
	// back or aborted, then or when it came back as a candidate, it never
	// qualifies a downstream release. Empty: never.
	// +optional
	Rejected string `json:"rejected,omitempty"`
}
