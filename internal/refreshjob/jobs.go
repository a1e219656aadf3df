package refreshjob

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

// JobState is where a refresh Job is.
type JobState string

// States of a refresh Job.
const (
	JobActive    JobState = "Active"
	JobSucceeded JobState = "Succeeded"
	JobFailed    JobState = "Failed"
)

// ObservedJob is what the controller needs of one refresh Job.
type ObservedJob struct {
	Name string
	// Now tells a refresh-now Job (owned by the DatabaseRefresh) from a
	// scheduled one (owned by the CronJob).
	Now    bool
	State  JobState
	Start  time.Time
	Finish time.Time // zero while active
	// Reason and Message of the Job's Failed condition.
	Reason, Message string
	// Problem is why the running Job's pod cannot start or failed an
	// attempt (poddiag); "" when nothing is wrong.
	Problem string
}

// ObserveJob reads a Job's state from its conditions.
func ObserveJob(job *batchv1.Job, now bool) ObservedJob {
	o := ObservedJob{Name: job.Name, Now: now, State: JobActive, Start: job.CreationTimestamp.Time}
	if job.Status.StartTime != nil {
		o.Start = job.Status.StartTime.Time
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			o.State, o.Finish = JobSucceeded, c.LastTransitionTime.Time
			if job.Status.CompletionTime != nil {
				o.Finish = job.Status.CompletionTime.Time
			}
		case batchv1.JobFailed:
			o.State, o.Finish = JobFailed, c.LastTransitionTime.Time
			o.Reason, o.Message = c.Reason, c.Message
		}
	}
	o.Start, o.Finish = seconds(o.Start), seconds(o.Finish)
	return o
}

// Finished tells whether the Job ran to an end.
func (j ObservedJob) Finished() bool { return j.State != JobActive }

// NewestFinished is the finished Job that ended last, if any.
func NewestFinished(jobs []ObservedJob) *ObservedJob {
	var newest *ObservedJob
	for i := range jobs {
		j := &jobs[i]
		if !j.Finished() {
			continue
		}
		if newest == nil || j.Finish.After(newest.Finish) || (j.Finish.Equal(newest.Finish) && j.Name > newest.Name) {
			newest = j
		}
	}
	return newest
}

// NewestActive is the running Job that started last, if any.
func NewestActive(jobs []ObservedJob) *ObservedJob {
	var newest *ObservedJob
	for i := range jobs {
		j := &jobs[i]
		if j.Finished() {
			continue
		}
		if newest == nil || j.Start.After(newest.Start) || (j.Start.Equal(newest.Start) && j.Name > newest.Name) {
			newest = j
		}
	}
	return newest
}

// IsUnrecorded tells whether a finished Job is newer than the refresh
// status already describes, so that its result must be read.
func IsUnrecorded(job *ObservedJob, last *deployv1alpha1.RefreshRecord) bool {
	if job == nil || !job.Finished() {
		return false
	}
	if last == nil || last.FinishedAt == nil {
		return true
	}
	return job.Name != last.Job && !job.Finish.Before(last.FinishedAt.Time)
}

// ResultFromPods reads the runner's result from the termination message of
// the runner container of the Job's pods, taking the pod that ended last
// (a Job with retries has one pod per attempt). It reports false when no pod
// left a message that parses.
func ResultFromPods(pods []corev1.Pod) (*refreshwire.Result, bool) {
	type candidate struct {
		at  time.Time
		msg string
	}
	var cands []candidate
	for i := range pods {
		for _, cs := range pods[i].Status.ContainerStatuses {
			t := cs.State.Terminated
			if t == nil || strings.TrimSpace(t.Message) == "" {
				continue
			}
			if cs.Name != ContainerName && len(pods[i].Status.ContainerStatuses) > 1 {
				continue
			}
			cands = append(cands, candidate{at: t.FinishedAt.Time, msg: t.Message})
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].at.After(cands[b].at) })
	for _, c := range cands {
		if res, err := ParseResult(c.msg); err == nil {
			return res, true
		}
	}
	return nil, false
}

// ParseResult parses the runner's JSON result.
func ParseResult(msg string) (*refreshwire.Result, error) {
	var res refreshwire.Result
	if err := json.Unmarshal([]byte(strings.TrimSpace(msg)), &res); err != nil {
		return nil, fmt.Errorf("cannot parse the runner's result: %w", err)
	}
	if res.Result != refreshwire.Succeeded && res.Result != refreshwire.Failed {
		return nil, fmt.Errorf("the runner's result %q is neither %s nor %s", res.Result, refreshwire.Succeeded, refreshwire.Failed)
	}
	return &res, nil
}

// Finished is a finished refresh Job and the runner's result, when one
// could be read.
type Finished struct {
	Job    ObservedJob
	Result *refreshwire.Result
}

// Record is the status.lastRefresh of a finished Job. A Job that failed
// without a result is a failure with the Job's own reason and message.
func (f Finished) Record() deployv1alpha1.RefreshRecord {
	rec := deployv1alpha1.RefreshRecord{
		Job:        f.Job.Name,
		StartedAt:  metaTime(f.Job.Start),
		FinishedAt: metaTime(f.Job.Finish),
		Result:     deployv1alpha1.RefreshSucceeded,
	}
	if r := f.Result; r != nil {
		rec.Source, rec.Bytes, rec.Message = r.Source, r.Bytes, r.Error
		rec.Object = objectRecord(r.Object)
		rec.PhysicalBackup = physicalBackupRecord(r.Backup)
		rec.Masking = maskingCheck(r.Masking)
		if r.Result == refreshwire.Failed {
			rec.Result, rec.FailedStep = deployv1alpha1.RefreshFailed, r.Step
		}
		if rec.Message == "" && len(r.Warnings) > 0 {
			rec.Message = "succeeded with warnings: " + strings.Join(r.Warnings, "; ")
		}
	}
	if f.Job.State == JobFailed {
		rec.Result = deployv1alpha1.RefreshFailed
	}
	if rec.Result == deployv1alpha1.RefreshFailed && rec.Message == "" {
		rec.Message = jobFailure(f.Job)
	}
	if rec.Result == deployv1alpha1.RefreshFailed && rec.FailedStep == "" {
		rec.FailedStep = refreshwire.StepJob
	}
	return rec
}

func jobFailure(j ObservedJob) string {
	switch {
	case j.Reason != "" && j.Message != "":
		return fmt.Sprintf("Job %s failed without a result from the runner: %s: %s", j.Name, j.Reason, j.Message)
	case j.Reason != "":
		return fmt.Sprintf("Job %s failed without a result from the runner: %s", j.Name, j.Reason)
	default:
		return fmt.Sprintf("Job %s failed without a result from the runner", j.Name)
	}
}
