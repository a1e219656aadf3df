package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RefreshResult is how a refresh ended.
// +kubebuilder:validation:Enum=Succeeded;Failed;Running
type RefreshResult string

// Results recorded in status.lastRefresh.
const (
	RefreshSucceeded RefreshResult = "Succeeded"
	RefreshFailed    RefreshResult = "Failed"
	RefreshRunning   RefreshResult = "Running"
)

// DatabaseRefreshSpec is the desired schedule and shape of a dev refresh.
// +kubebuilder:validation:XValidation:rule="!has(self.source.database) || self.source.database.connectionSecretRef.name != self.target.connectionSecretRef.name || self.source.database.name != self.target.name",message="spec.target must not be the live source: same connection Secret and database name"
type DatabaseRefreshSpec struct {
	// Schedule in standard cron format (minute hour day-of-month month
	// day-of-week) or a macro such as @daily.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([*]|[0-5]?[0-9](-[0-5]?[0-9])?)(/[0-9]{1,2})?(,([*]|[0-5]?[0-9](-[0-5]?[0-9])?)(/[0-9]{1,2})?)*[ ]+([*]|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/[0-9]{1,2})?(,([*]|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/[0-9]{1,2})?)*[ ]+([?]|([*]|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/[0-9]{1,2})?)(,([?]|([*]|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/[0-9]{1,2})?))*[ ]+([*]|(0?[1-9]|1[0-2]|[a-zA-Z]{3})(-(0?[1-9]|1[0-2]|[a-zA-Z]{3}))?)(/[0-9]{1,2})?(,([*]|(0?[1-9]|1[0-2]|[a-zA-Z]{3})(-(0?[1-9]|1[0-2]|[a-zA-Z]{3}))?)(/[0-9]{1,2})?)*[ ]+([?]|([*]|([0-7]|[a-zA-Z]{3})(-([0-7]|[a-zA-Z]{3}))?)(/[0-9]{1,2})?)(,([?]|([*]|([0-7]|[a-zA-Z]{3})(-([0-7]|[a-zA-Z]{3}))?)(/[0-9]{1,2})?))*)$')",message="spec.schedule must be a standard 5-field cron expression (minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7) or a macro such as @daily"
	// +required
	Schedule string `json:"schedule"`

	// TimeZone is the IANA time zone of the schedule, e.g. Europe/Berlin.
	// Unset means the time zone of kube-controller-manager.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	// +optional
	TimeZone *string `json:"timeZone,omitempty"`

	// Suspend stops scheduled refreshes; refresh-now still works.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Source of the data: exactly one of backup or database.
	// +required
	Source RefreshSource `json:"source"`

	// Target is the dev database that is replaced.
	// +required
	Target RefreshTarget `json:"target"`

	// Sanitize is SQL run on the copy, in order, before it goes live.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Sanitize []SanitizeStep `json:"sanitize,omitempty"`

	// Masking, when set, classifies every column of every restored table
	// (keep, mask, or truncate the table); a column it does not classify
	// fails the refresh. Applied after the sanitize SQL.
	// +optional
	Masking *MaskingPolicy `json:"masking,omitempty"`

	// KeepPrevious is how many previous copies are kept for rollback.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	KeepPrevious *int32 `json:"keepPrevious,omitempty"`

	// SiteDeploymentRef names a SiteDeployment whose pods are restarted after
	// a successful swap, so that they reconnect to the new copy.
	// +optional
	SiteDeploymentRef *LocalObjectReference `json:"siteDeploymentRef,omitempty"`

	// RestoreJobs is the number of parallel pg_restore (and pg_dump) jobs
	// for custom and directory dumps.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	// +optional
	RestoreJobs int32 `json:"restoreJobs,omitempty"`

	// JobTemplate overrides parts of the runner pod.
	// +optional
	JobTemplate *RunnerPodOverrides `json:"jobTemplate,omitempty"`

	// SuccessfulJobsHistoryLimit is how many finished successful Jobs are kept.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`

	// FailedJobsHistoryLimit is how many failed Jobs are kept.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`
}

// RefreshSource is where the data comes from.
// +kubebuilder:validation:XValidation:rule="has(self.backup) != has(self.database)",message="spec.source must set exactly one of backup or database"
type RefreshSource struct {
	// Backup takes the newest matching dump file from a volume.
	// +optional
	Backup *BackupSource `json:"backup,omitempty"`

	// Database takes a fresh pg_dump of a live database, e.g. a read replica.
	// +optional
	Database *LiveDatabaseSource `json:"database,omitempty"`
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

// RefreshTarget is the dev database that is replaced by each refresh.
type RefreshTarget struct {
	// ConnectionSecretRef names an admin connection Secret of the dev server
	// (allowed to create, rename and drop databases).
	// +required
	ConnectionSecretRef SecretReference `json:"connectionSecretRef"`

	// Name of the dev database. Lowercase letters, digits and underscores,
	// at most 43 bytes so that the side and previous copies' names fit.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_]*$`
	// +required
	Name string `json:"name"`

	// Owner is the role that owns the restored objects. Unset: the admin role.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_]*$`
	// +optional
	Owner string `json:"owner,omitempty"`
}

// SanitizeStep is one SQL script: inline or from a ConfigMap.
// +kubebuilder:validation:XValidation:rule="has(self.sql) != has(self.configMapKeyRef)",message="each spec.sanitize entry must set exactly one of sql or configMapKeyRef"
type SanitizeStep struct {
	// SQL to run.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	SQL string `json:"sql,omitempty"`

	// ConfigMapKeyRef names a ConfigMap key holding the SQL.
	// +optional
	ConfigMapKeyRef *corev1.ConfigMapKeySelector `json:"configMapKeyRef,omitempty"`
}

// RunnerPodOverrides are the parts of the runner pod a user may set.
type RunnerPodOverrides struct {
	// Labels added to the runner pod.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations added to the runner pod.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// Resources of the runner container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// NodeSelector of the runner pod.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations of the runner pod.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// ServiceAccountName of the runner pod.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// PriorityClassName of the runner pod.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// ActiveDeadlineSeconds bounds one refresh: a runner Job still running
	// (or whose pod never started) after this long fails with reason
	// DeadlineExceeded. Default 3600.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// BackoffLimit is how often a failed refresh is retried in the same run.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// Env adds variables to the runner container (not for credentials).
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// DatabaseRefreshStatus is what the controller observed.
type DatabaseRefreshStatus struct {
	// ObservedGeneration is the generation the controller fully handled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastScheduleTime is when a refresh Job last started.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// LastSuccessfulTime is when a refresh last swapped a new copy in.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`
	// NextScheduleTime is when the schedule fires next.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// DataTakenAt is when the data now in dev was taken from the source:
	// how old dev's data is.
	// +optional
	DataTakenAt *metav1.Time `json:"dataTakenAt,omitempty"`
	// LastRefresh describes the last finished refresh.
	// +optional
	LastRefresh *RefreshRecord `json:"lastRefresh,omitempty"`
	// LastRefreshNowToken is the last deploy.understudy.dev/refresh-now value acted on.
	// +optional
	LastRefreshNowToken string `json:"lastRefreshNowToken,omitempty"`
	// RefreshNowQueuedBehind names the running refresh Job a new
	// refresh-now token waits for; cleared when its own Job starts.
	// +optional
	RefreshNowQueuedBehind string `json:"refreshNowQueuedBehind,omitempty"`
	// Actions are the controller's answers to the refresh-now annotation:
	// the value answered, and what became of it (a Job started, waiting
	// behind a running Job, or merged into the refresh-now already
	// running).
	// +listType=map
	// +listMapKey=annotation
	// +kubebuilder:validation:MaxItems=4
	// +optional
	Actions []ActionStatus `json:"actions,omitempty"`
	// Conditions: Ready, Progressing, Degraded (and Reconciling, Stalled for kstatus).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RefreshRecord is the result of one refresh, as the runner reported it.
type RefreshRecord struct {
	// Job that ran the refresh.
	Job string `json:"job,omitempty"`
	// Source file or database the data came from.
	Source string `json:"source,omitempty"`
	// StartedAt is when the Job started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the Job finished.
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Bytes restored.
	Bytes int64 `json:"bytes,omitempty"`
	// Object is the S3 object a refresh from a bucket restored (or failed
	// on).
	// +optional
	Object *BackupObject `json:"object,omitempty"`
	// Result of the refresh.
	Result RefreshResult `json:"result,omitempty"`
	// Message is the runner's error, or after a success its warnings (an
	// old copy it could not drop, a backup it could not prove complete, for
	// which it kept every previous copy).
	Message string `json:"message,omitempty"`
	// FailedStep is the step a failed refresh failed in: validate,
	// connect, lock, source, restore, sanitize, mask, analyze, swap, or job
	// when the Job failed without a result from the runner.
	// +optional
	FailedStep string `json:"failedStep,omitempty"`
	// Masking is what the runner found comparing spec.masking with the
	// restored schema; unset without a policy or when the refresh failed
	// before the comparison.
	// +optional
	Masking *MaskingCheck `json:"masking,omitempty"`
}

// BackupObject is an object of a bucket, as the runner found it.
type BackupObject struct {
	// Bucket the object is in.
	Bucket string `json:"bucket,omitempty"`
	// Key of the object.
	Key string `json:"key,omitempty"`
	// Size of the object in bytes.
	Size int64 `json:"size,omitempty"`
	// LastModified is the object's last-modified time in the bucket.
	LastModified *metav1.Time `json:"lastModified,omitempty"`
}

// DatabaseRefresh keeps a development database a recent copy of production:
// on a schedule a CronJob restores the newest backup (or a live dump) beside
// the dev database, sanitises it, swaps it in by rename and keeps the
// previous copy. A failed refresh leaves dev as it was.
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 52",message="metadata.name must be at most 52 characters: the CronJob named after it appends 11 characters to its Jobs' names"
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dbr,categories={all,understudy}
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Last-Success",type=date,JSONPath=`.status.lastSuccessfulTime`
// +kubebuilder:printcolumn:name="Data-Taken",type=date,JSONPath=`.status.dataTakenAt`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DatabaseRefresh struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec DatabaseRefreshSpec `json:"spec"`
	// +optional
	Status DatabaseRefreshStatus `json:"status,omitempty"`
}

// DatabaseRefreshList is a list of DatabaseRefreshes.
// +kubebuilder:object:root=true
type DatabaseRefreshList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DatabaseRefresh `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DatabaseRefresh{}, &DatabaseRefreshList{})
}
