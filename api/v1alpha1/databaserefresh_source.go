package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// RefreshSource is where the data comes from.
// +kubebuilder:validation:XValidation:rule="(has(self.backup) ? 1 : 0) + (has(self.database) ? 1 : 0) + (has(self.pgbackrest) ? 1 : 0) == 1",message="spec.source must set exactly one of backup, database or pgbackrest"
type RefreshSource struct {
	// Backup takes the newest matching dump file from a volume.
	// +optional
	Backup *BackupSource `json:"backup,omitempty"`

	// Database takes a fresh pg_dump of a live database, e.g. a read replica.
	// +optional
	Database *LiveDatabaseSource `json:"database,omitempty"`

	// PgBackRest takes one database out of a physical pgBackRest backup:
	// the runner restores only that database into a throwaway PostgreSQL
	// instance on its scratch volume, recovers it, dumps it and restores
	// the dump beside the target.
	// +optional
	PgBackRest *PgBackRestSource `json:"pgbackrest,omitempty"`
}

// BackupSource is where the dump files are: a directory of a volume, or a
// prefix of an S3-compatible bucket. Exactly one of volume or s3.
// +kubebuilder:validation:XValidation:rule="has(self.volume) != has(self.s3)",message="spec.source.backup must set exactly one of volume or s3"
// +kubebuilder:validation:XValidation:rule="!has(self.s3) || !has(self.path) || self.path == '/'",message="spec.source.backup.path is a directory of the volume; for s3 use s3.prefix"
type BackupSource struct {
	// Volume holding the backups; mounted read-only into the runner.
	// +optional
	Volume *corev1.VolumeSource `json:"volume,omitempty"`

	// S3 is a bucket of an S3-compatible object store holding the backups:
	// the runner downloads the newest matching object with parallel ranged
	// reads to its scratch volume, checks its size and checksum, then
	// restores it. A directory-format dump is stored as one tar object.
	// +optional
	S3 *S3Source `json:"s3,omitempty"`

	// Path is the directory inside the volume.
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	Path string `json:"path,omitempty"`

	// Pattern is a shell glob of file names (for s3: of the object keys'
	// part after the prefix); the newest match is restored.
	// Custom (-Fc), directory (-Fd; in s3 a tar of it), plain SQL and gzip'd
	// plain SQL dumps are accepted.
	// +kubebuilder:default="*"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Pattern string `json:"pattern,omitempty"`
}

// S3Source is a prefix of an S3-compatible bucket.
type S3Source struct {
	// Endpoint is the URL of the S3 API, e.g. https://s3.eu-west-1.amazonaws.com
	// or http://minio.storage:9000.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/?#@]+(/[^?#]*)?$')",message="spec.source.backup.s3.endpoint must be an http:// or https:// URL without credentials, query or fragment"
	// +required
	Endpoint string `json:"endpoint"`

	// Region the bucket is in; the signature needs one even where the
	// server ignores it.
	// +kubebuilder:default="us-east-1"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`

	// Bucket name.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	// +required
	Bucket string `json:"bucket"`

	// Prefix of the keys to look at, e.g. "prod/daily/". Objects in
	// deeper "folders" than the prefix are not considered.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/')",message="spec.source.backup.s3.prefix is a key prefix and must not start with /"
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// ForcePathStyle addresses the bucket as <endpoint>/<bucket> instead of
	// <bucket>.<endpoint> (MinIO, SeaweedFS, Ceph and most other
	// S3-compatible servers need it).
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`

	// CredentialsSecretRef names a Secret holding the access key; it
	// reaches the runner only as environment variables by secretKeyRef.
	// +required
	CredentialsSecretRef S3CredentialsSecretRef `json:"credentialsSecretRef"`
}

// S3CredentialsSecretRef names the Secret and keys of an S3 access key.
type S3CredentialsSecretRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// AccessKeyIDKey is the Secret's key holding the access key id.
	// +kubebuilder:default="AWS_ACCESS_KEY_ID"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	AccessKeyIDKey string `json:"accessKeyIDKey,omitempty"`

	// SecretAccessKeyKey is the Secret's key holding the secret access key.
	// +kubebuilder:default="AWS_SECRET_ACCESS_KEY"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretAccessKeyKey string `json:"secretAccessKeyKey,omitempty"`
}

// LiveDatabaseSource is a database to dump now.
type LiveDatabaseSource struct {
	// ConnectionSecretRef names the connection Secret of the source server.
	// +required
	ConnectionSecretRef SecretReference `json:"connectionSecretRef"`

	// Name of the source database.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_]*$`
	// +required
	Name string `json:"name"`
}
