// Package refreshwire owns what passes between the DatabaseRefresh
// controller and the refresh runner's pod: the environment variables the
// runner reads its credentials from (filled by secretKeyRef) and the
// one-line JSON Result it writes to its termination message. It holds
// names and plain types only, so the controller's pure planner
// (internal/refreshjob) reads them without linking the runner
// (internal/refresh) and its database stack.
package refreshwire

import (
	"time"

	"github.com/understudy-dev/understudy/internal/masking"
)

// Result is the one-line JSON the refresh runner writes to its pod's
// termination message file and to stdout. The DatabaseRefresh controller
// reads it back into status.lastRefresh and status.dataTakenAt. It never
// contains a credential.
type Result struct {
	// Result is "Succeeded" or "Failed".
	Result string `json:"result"`
	// Error is the failure, in words a person can act on; empty on success.
	Error string `json:"error,omitempty"`
	// Step is the step that failed (one of the Step constants); empty on
	// success.
	Step string `json:"step,omitempty"`
	// Source is the backup file name (relative to the backup directory) or
	// "database <name>" for a live dump.
	Source string `json:"source,omitempty"`
	// DataTakenAt is when the source data was taken: the dump's creation
	// time from its archive header, else the file's modification time, or
	// the start of a live dump.
	DataTakenAt *time.Time `json:"dataTakenAt,omitempty"`
	// Bytes is the size of the dump that was restored.
	Bytes int64 `json:"bytes,omitempty"`
	// Object is the S3 object picked (restored, or refused), for a
	// bucket source.
	Object *Object `json:"object,omitempty"`
	// Backup is the pgBackRest backup picked (restored, or refused), for
	// a pgBackRest source.
	Backup *PhysicalBackup `json:"backup,omitempty"`
	// Target is the database that now holds the new copy.
	Target string `json:"target,omitempty"`
	// Previous is the name the old target was kept under, if any.
	Previous string `json:"previous,omitempty"`
	// Dropped lists kept copies dropped by retention.
	Dropped []string `json:"dropped,omitempty"`
	// DurationsMs is the duration of each step (dump, verify, restore, sanitize,
	// analyze, swap, total) in milliseconds.
	DurationsMs map[string]int64 `json:"durationsMs,omitempty"`
	// UnavailableMs is how long the target database refused connections
	// during the swap.
	UnavailableMs int64 `json:"unavailableMs,omitempty"`
	// Masking is what the comparison of the masking policy with the
	// copy's schema found (bounded lists); nil without a policy or when
	// the refresh failed before it.
	Masking *masking.Report `json:"masking,omitempty"`
	// Warnings are problems after a successful swap (an old copy that
	// could not be dropped, ...): the refresh itself succeeded.
	Warnings []string `json:"warnings,omitempty"`
}

// Steps a refresh fails in: a bounded set, so metrics can count by it.
const (
	StepValidate = "validate" // the options
	StepConnect  = "connect"  // reaching the target server
	StepLock     = "lock"     // waiting for another refresh of the target
	StepSource   = "source"   // picking, checking or dumping the source
	StepRestore  = "restore"  // creating and restoring the side database
	StepSanitize = "sanitize" // reading and running the sanitize scripts
	StepMask     = "mask"     // comparing the masking policy with the copy, masking
	StepAnalyze  = "analyze"
	StepSwap     = "swap"
	// StepJob: the Job failed without a result from the runner (its pod
	// could not start, was killed, or ran past its deadline).
	StepJob = "job"
)

// Result values.
const (
	Succeeded = "Succeeded"
	Failed    = "Failed"
)

// Environment variables the runner reads its credentials from. The
// DatabaseRefresh controller fills them from the connection Secrets' keys
// (host, port, username, password, sslmode) with secretKeyRef, so no
// credential value ever appears in the CronJob, the Job or their args.
const (
	EnvTargetHost     = "TARGET_HOST"
	EnvTargetPort     = "TARGET_PORT"
	EnvTargetUser     = "TARGET_USER"
	EnvTargetPassword = "TARGET_PASSWORD"
	EnvTargetSSLMode  = "TARGET_SSLMODE"
	EnvSourceHost     = "SOURCE_HOST"
	EnvSourcePort     = "SOURCE_PORT"
	EnvSourceUser     = "SOURCE_USER"
	EnvSourcePassword = "SOURCE_PASSWORD"
	EnvSourceSSLMode  = "SOURCE_SSLMODE"
)

// Environment variables the runner reads the S3 access key from; the
// DatabaseRefresh controller fills them by secretKeyRef.
const (
	EnvS3AccessKeyID     = "S3_ACCESS_KEY_ID"
	EnvS3SecretAccessKey = "S3_SECRET_ACCESS_KEY"
)

// Object is an object of the bucket as listed, and as the Result reports it.
type Object struct {
	Bucket       string    `json:"bucket"`
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
	// ETag is not reported: it is used to pin the download to the version
	// that was listed.
	ETag string `json:"-"`
}

func (o Object) String() string { return "s3://" + o.Bucket + "/" + o.Key }

// PhysicalBackup is a pgBackRest backup set as the runner picked it from
// the repository's info.
type PhysicalBackup struct {
	Stanza    string    `json:"stanza"`
	Label     string    `json:"label"`
	Type      string    `json:"type,omitempty"`
	StartLSN  string    `json:"startLSN,omitempty"`
	StopLSN   string    `json:"stopLSN,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	StoppedAt time.Time `json:"stoppedAt"`
	// TargetTime is the recovery target, when one was given.
	TargetTime *time.Time `json:"targetTime,omitempty"`
}
