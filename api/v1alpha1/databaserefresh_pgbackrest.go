package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PgBackRestSource is one database of a pgBackRest stanza's backups.
type PgBackRestSource struct {
	// Stanza is the pgBackRest stanza (the production cluster's name in
	// the repository).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+$`
	// +required
	Stanza string `json:"stanza"`

	// Database is the database of the backed-up cluster to copy; only it
	// is restored (pgBackRest --db-include).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_]*$`
	// +required
	Database string `json:"database"`

	// Repository is where the stanza's backups and WAL archive are.
	// +required
	Repository PgBackRestRepository `json:"repository"`

	// Set is the label of the backup to restore, e.g. 20261126-030001F.
	// Unset: the newest backup (the newest finished before targetTime,
	// when that is set).
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?$`
	// +optional
	Set string `json:"set,omitempty"`

	// TargetTime recovers the copy to this moment by replaying the WAL
	// archive. Unset: recovery stops as soon as the backup is consistent,
	// and the data is as old as the backup's end.
	// +optional
	TargetTime *metav1.Time `json:"targetTime,omitempty"`

	// Role is a superuser role of the backed-up cluster. The runner's
	// throwaway instance lets it in without a password over its private
	// unix socket only; it dumps the database as this role.
	// +kubebuilder:default="postgres"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_]*$`
	// +optional
	Role string `json:"role,omitempty"`

	// Options are further pgBackRest options without the leading "--",
	// e.g. {"process-max": "4", "repo1-cipher-type": "none"}; they reach
	// pgBackRest as PGBACKREST_* variables. Not for credentials.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z0-9][a-z0-9-]*$'))",message="spec.source.pgbackrest.options keys are pgBackRest option names such as process-max (lowercase, digits and -)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.matches('(key|pass|secret|token)'))",message="spec.source.pgbackrest.options must not carry credentials: keys, passphrases and tokens come from the repository's credentialsSecretRef"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['stanza', 'pg1-path', 'db-include', 'set', 'type', 'target', 'target-action', 'config', 'lock-path', 'log-path', 'spool-path']))",message="spec.source.pgbackrest.options must not set an option the runner sets itself (stanza, pg1-path, db-include, set, type, target, target-action, config, lock-path, log-path, spool-path)"
	// +optional
	Options map[string]string `json:"options,omitempty"`
}

// PgBackRestRepository is a pgBackRest repository: on a volume, or in an
// S3-compatible bucket. Exactly one of volume or s3.
// +kubebuilder:validation:XValidation:rule="has(self.volume) != has(self.s3)",message="spec.source.pgbackrest.repository must set exactly one of volume or s3"
// +kubebuilder:validation:XValidation:rule="!has(self.s3) || self.s3.endpoint.startsWith('https://')",message="spec.source.pgbackrest.repository.s3.endpoint must be an https:// URL: pgBackRest speaks only TLS to S3"
type PgBackRestRepository struct {
	// Volume holding the repository; mounted read-only into the runner.
	// +optional
	Volume *corev1.VolumeSource `json:"volume,omitempty"`

	// S3 is a bucket holding the repository; its prefix is the
	// repository's path (repo1-path) and forcePathStyle selects
	// repo1-s3-uri-style=path.
	// +optional
	S3 *S3Source `json:"s3,omitempty"`

	// Path is the repository's directory inside the volume (repo1-path).
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	Path string `json:"path,omitempty"`
}

// PhysicalBackup is the pgBackRest backup a refresh restored (or failed
// on).
type PhysicalBackup struct {
	// Stanza of the backup.
	Stanza string `json:"stanza,omitempty"`
	// Label of the backup set, e.g. 20261126-030001F.
	Label string `json:"label,omitempty"`
	// Type is full, diff or incr.
	Type string `json:"type,omitempty"`
	// StartLSN and StopLSN are the WAL positions the backup began and
	// ended at.
	StartLSN string `json:"startLSN,omitempty"`
	StopLSN  string `json:"stopLSN,omitempty"`
	// StartedAt and StoppedAt are when the backup began and ended.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	StoppedAt *metav1.Time `json:"stoppedAt,omitempty"`
	// TargetTime is the moment the copy was recovered to, when
	// spec.source.pgbackrest.targetTime was set.
	// +optional
	TargetTime *metav1.Time `json:"targetTime,omitempty"`
}
