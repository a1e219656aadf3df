package v1alpha1

import (
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
	// PhysicalBackup is the pgBackRest backup a refresh from pgBackRest
	// restored (or failed on).
	// +optional
	PhysicalBackup *PhysicalBackup `json:"physicalBackup,omitempty"`
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
