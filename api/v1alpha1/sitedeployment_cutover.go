package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// How a rehearsed schema-changing release's cutover makes the next
// database (spec.database.cutover).

// CutoverMethod is how a rehearsed release's cutover makes the next database.
// +kubebuilder:validation:Enum=Copy;Replicated
type CutoverMethod string

const (
	// CutoverCopy freezes the live database, copies it (cloneMethod) and
	// migrates the copy inside the freeze: writes are refused for about as
	// long as a copy of the whole database takes.
	CutoverCopy CutoverMethod = "Copy"
	// CutoverReplicated keeps the next database current by logical
	// replication from the live one while it takes writes; the migration
	// runs on it and the candidate starts at full size on it (held
	// read-only) before the freeze, which then lasts only until the next
	// database applied the last writes.
	CutoverReplicated CutoverMethod = "Replicated"
)

// CutoverFallback is what a Replicated cutover does when replication cannot
// carry the release.
// +kubebuilder:validation:Enum=Copy;Fail
type CutoverFallback string

const (
	// FallbackCopy runs the copy cutover instead, saying why.
	FallbackCopy CutoverFallback = "Copy"
	// FallbackFail aborts the release, saying why; nothing was frozen.
	FallbackFail CutoverFallback = "Fail"
)

// CutoverSpec chooses and bounds a rehearsed release's cutover.
type CutoverSpec struct {
	// Method is Copy or Replicated. Replicated needs wal_level=logical, a
	// superuser admin role, free replication slots and a primary key (or
	// replica identity) on every table, and a migration replication can
	// carry (added tables, nullable columns or columns with defaults,
	// indexes, widened types); otherwise onUnsupported decides.
	// +kubebuilder:default=Copy
	// +optional
	Method CutoverMethod `json:"method,omitempty"`

	// OnUnsupported is what a Replicated cutover does when the server or
	// the migration cannot be replicated: Copy (the default) runs the copy
	// cutover instead; Fail aborts the release. Either way a condition and
	// an event name the cause, before anything is frozen.
	// +kubebuilder:default=Copy
	// +optional
	OnUnsupported CutoverFallback `json:"onUnsupported,omitempty"`

	// MaxLagBytes: the freeze of a Replicated cutover begins only once the
	// next database is within this much of the live one's WAL; until then
	// the release waits (within copyTimeout) and says how far behind it is.
	// +kubebuilder:default=1048576
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxLagBytes *int64 `json:"maxLagBytes,omitempty"`

	// CatchUpTimeout bounds the wait, inside the freeze, for the next
	// database to apply the live one's last writes; a cutover that has not
	// caught up by then makes the live database writable again and aborts.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	CatchUpTimeout *metav1.Duration `json:"catchUpTimeout,omitempty"`
}
