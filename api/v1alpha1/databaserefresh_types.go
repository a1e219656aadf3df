package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	// Source of the data: exactly one of backup, database or pgbackrest.
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
