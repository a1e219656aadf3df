package refreshjob

import (
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/conditions"
)

// Event reasons, recorded on transitions only.
const (
	EventRefreshStarted   = "RefreshStarted"
	EventRefreshSucceeded = "RefreshSucceeded"
	EventRefreshFailed    = "RefreshFailed"
	// EventRefreshQueued: a refresh-now token waits behind a running Job.
	EventRefreshQueued = "RefreshQueued"
	// EventRefreshFailing: the running Job's pod cannot start or an attempt
	// failed; recorded each time the reason changes.
	EventRefreshFailing = "RefreshFailing"
	// EventRefreshNowMerged: a refresh-now token was answered by a
	// refresh-now already running or waiting, not by another refresh.
	EventRefreshNowMerged = "RefreshNowMerged"
	// EventRestartSkipped: the SiteDeployment to restart does not exist.
	EventRestartSkipped = "RestartSkipped"
	// EventActionRefresh is the action of the refresh events.
	EventActionRefresh = "Refresh"
)

// Event is one event to record about the DatabaseRefresh, regarding Job.
type Event struct {
	Warning bool
	Reason  string
	Job     string
	Note    string
}

// Observation is what the controller saw in one pass.
type Observation struct {
	Now        time.Time
	Generation int64
	Suspend    bool
	// Schedule is nil when the spec could not be parsed.
	Schedule *Schedule
	// Blocked is why the CronJob could not be brought to the spec (an
	// InvalidSpecError); nil when it is in place.
	Blocked error
	// CronJobLastSchedule is the CronJob's status.lastScheduleTime.
	CronJobLastSchedule *time.Time
	// Jobs are the refresh Jobs that still exist.
	Jobs []ObservedJob
	// Finished is the newest finished Job when it is newer than the status
	// describes, with the runner's result read from its pods.
	Finished *Finished
	// RefreshNowRequested is a refresh-now token not acted on before this
	// pass, which the status answers (see answerRefreshNow).
	RefreshNowRequested string
	// RefreshNowToken is the refresh-now token acted on (its Job exists,
	// or it was merged into a running refresh-now), and RefreshNowJob the
	// Job started for it.
	RefreshNowToken, RefreshNowJob string
	// RefreshNowQueuedBehind is the running Job a new refresh-now token
	// waits for.
	RefreshNowQueuedBehind string
	// RefreshNowMergedInto is the running refresh-now Job a new token was
	// merged into (MergeInto) instead of starting another refresh.
	RefreshNowMergedInto string
	// SiteDeployment is spec.siteDeploymentRef's name, if set.
	SiteDeployment string
}

// Plan is what follows from an observation.
type Plan struct {
	Status deployv1alpha1.DatabaseRefreshStatus
	// Events to record once the status is written.
	Events []Event
	// RestartAt, when set, is the restarted-at value to patch onto the
	// SiteDeployment: a newly seen successful refresh finished then.
	RestartAt *time.Time
	// RequeueAfter is when to look again without any watch event: the next
	// scheduled run. Zero: only on events.
	RequeueAfter time.Duration
	// ConfigMap and CronJob are the sanitize ConfigMap and the CronJob as
	// the spec renders them; nil while the spec is blocked (they are left
	// as they are).
	ConfigMap *corev1.ConfigMap
	CronJob   *batchv1.CronJob
	// NowJob is the refresh-now Job to start; PruneJobs the refresh-now
	// Jobs beyond the history limits, to delete.
	NowJob    *batchv1.Job
	PruneJobs []string
}

// PlanStatus derives the status from the previous status and what was
// observed. Conditions (written by internal/conditions):
//   - Ready is True when the CronJob is in place and the last finished
//     refresh did not fail: reason Succeeded after a successful refresh,
//     Scheduled before the first one, Paused while suspended. It is False
//     with RefreshFailed after a failed refresh (dev keeps its previous copy)
//     and with InvalidSpec when the spec cannot be acted on. A running
//     refresh does not change it: dev keeps serving its current copy.
//   - Progressing (and Reconciling) is True with RefreshRunning while a
//     refresh Job runs.
//   - Degraded (and Stalled) is True with InvalidSpec or RefreshFailed and
//     is cleared by the next successful refresh or a fixed spec.
//
// kstatus reads Current when Ready, InProgress while a refresh runs and
// Failed when Degraded and idle.
func PlanStatus(prev deployv1alpha1.DatabaseRefreshStatus, o Observation) Plan {
	st := *prev.DeepCopy()
	st.ObservedGeneration = o.Generation
	if o.RefreshNowToken != "" {
		st.LastRefreshNowToken = o.RefreshNowToken
	}
	var p Plan
	st.RefreshNowQueuedBehind = o.RefreshNowQueuedBehind
	if q := o.RefreshNowQueuedBehind; q != "" && q != prev.RefreshNowQueuedBehind {
		p.Events = append(p.Events, Event{Reason: EventRefreshQueued, Job: q,
			Note: fmt.Sprintf("Refresh-now waits for the running refresh Job %s to end", q)})
	}
	p.Events = append(p.Events, answerRefreshNow(prev, o, &st)...)

	if last := lastSchedule(o, prev.LastScheduleTime); last != nil {
		st.LastScheduleTime = metaTime(*last)
	}
	st.NextScheduleTime = nil
	// Without a schedule (an invalid spec) nothing is requeued: a person must
	// act, and their change of the spec wakes the controller.
	if o.Schedule != nil && !o.Suspend {
		next := seconds(o.Schedule.Next(o.Now))
		st.NextScheduleTime = metaTime(next)
		p.RequeueAfter = next.Sub(o.Now) + time.Second
	}

	if f := o.Finished; f != nil {
		rec := f.Record()
		st.LastRefresh = &rec
		if rec.Result == deployv1alpha1.RefreshSucceeded {
			st.LastSuccessfulTime = rec.FinishedAt
			st.DataTakenAt = nil
			if f.Result != nil && f.Result.DataTakenAt != nil {
				st.DataTakenAt = metaTime(seconds(*f.Result.DataTakenAt))
			}
			p.Events = append(p.Events, Event{Reason: EventRefreshSucceeded, Job: rec.Job,
				Note: fmt.Sprintf("Refresh by Job %s succeeded: %s", rec.Job, describe(rec))})
			if o.SiteDeployment != "" {
				at := rec.FinishedAt.Time
				p.RestartAt = &at
			}
		} else {
			p.Events = append(p.Events, Event{Warning: true, Reason: EventRefreshFailed, Job: rec.Job,
				Note: fmt.Sprintf("Refresh by Job %s failed; dev keeps its previous copy: %s", rec.Job, rec.Message)})
		}
	}

	active := NewestActive(o.Jobs)
	if active != nil && !wasRunning(prev.Conditions, active.Name) {
		p.Events = append(p.Events, Event{Reason: EventRefreshStarted, Job: active.Name,
			Note: fmt.Sprintf("Refresh started by Job %s", active.Name)})
	}

	if active != nil && active.Problem != "" && !reported(prev.Conditions, failingMessage(active)) {
		p.Events = append(p.Events, Event{Warning: true, Reason: EventRefreshFailing, Job: active.Name, Note: failingMessage(active)})
	}

	st.Conditions = append([]metav1.Condition(nil), prev.Conditions...)
	conditions.Set(&st.Conditions, summarize(o, st, active), o.Generation, o.Now)
	p.Status = st
	return p
}

// summarize is what the conditions say about st; conditions.Set writes it.
func summarize(o Observation, st deployv1alpha1.DatabaseRefreshStatus, active *ObservedJob) conditions.Summary {
	var ready, degraded conditions.Condition
	failed := st.LastRefresh != nil && st.LastRefresh.Result == deployv1alpha1.RefreshFailed
	switch {
	case o.Blocked != nil:
		msg := o.Blocked.Error()
		ready = conditions.When(false, deployv1alpha1.ReasonInvalidSpec, msg)
		degraded = conditions.When(true, deployv1alpha1.ReasonInvalidSpec, msg)
	case failed:
		msg := fmt.Sprintf("Refresh by Job %s failed; dev keeps its previous copy: %s", st.LastRefresh.Job, st.LastRefresh.Message)
		ready = conditions.When(false, deployv1alpha1.ReasonRefreshFailed, msg)
		degraded = conditions.When(true, deployv1alpha1.ReasonRefreshFailed, msg)
	case st.LastRefresh != nil:
		msg := fmt.Sprintf("Refresh by Job %s succeeded: %s", st.LastRefresh.Job, describe(*st.LastRefresh))
		if o.Suspend {
			msg += "; scheduled refreshes are suspended"
		}
		ready = conditions.When(true, deployv1alpha1.ReasonSucceeded, msg)
		degraded = conditions.When(false, deployv1alpha1.ReasonSucceeded, "The last refresh succeeded")
	case o.Suspend:
		ready = conditions.When(true, deployv1alpha1.ReasonPaused, "Scheduled refreshes are suspended; refresh-now still works")
		degraded = conditions.When(false, deployv1alpha1.ReasonPaused, "No refresh has run yet")
	default:
		ready = conditions.When(true, deployv1alpha1.ReasonScheduled, "The CronJob is in place; "+nextRun(st))
		degraded = conditions.When(false, deployv1alpha1.ReasonScheduled, "No refresh has run yet")
	}
	if active != nil && active.Problem != "" && o.Blocked == nil {
		degraded = conditions.When(true, deployv1alpha1.ReasonRefreshFailing, failingMessage(active))
	}
	// A running refresh is Progressing even after a failure: kstatus reads
	// the new attempt InProgress, and Failed once it failed too.
	var progressing conditions.Condition
	switch {
	case active != nil:
		progressing = conditions.When(true, deployv1alpha1.ReasonRefreshRunning, runningMessage(active))
	case o.Blocked != nil:
		progressing = conditions.When(false, deployv1alpha1.ReasonInvalidSpec, "Waiting for the spec to be fixed")
	case o.Suspend:
		progressing = conditions.When(false, deployv1alpha1.ReasonPaused, "Scheduled refreshes are suspended")
	default:
		progressing = conditions.When(false, deployv1alpha1.ReasonScheduled, "No refresh is running; "+nextRun(st))
	}
	return conditions.Summary{Ready: ready, Progressing: progressing, Degraded: degraded}
}

func nextRun(st deployv1alpha1.DatabaseRefreshStatus) string {
	if st.NextScheduleTime == nil {
		return "no scheduled run"
	}
	return "next run at " + st.NextScheduleTime.UTC().Format(time.RFC3339)
}

func describe(rec deployv1alpha1.RefreshRecord) string {
	s := "new copy swapped in"
	if rec.Source != "" {
		s += " from " + rec.Source
	}
	if rec.Bytes > 0 {
		s += fmt.Sprintf(" (%d bytes)", rec.Bytes)
	}
	if rec.Message != "" {
		s += "; " + rec.Message
	}
	return s
}

// lastSchedule is the latest of the CronJob's last schedule and the start of
// every Job; the previous value when there is none (all were pruned).
func lastSchedule(o Observation, prev *metav1.Time) *time.Time {
	var last *time.Time
	consider := func(t time.Time) {
		t = seconds(t)
		if !t.IsZero() && (last == nil || t.After(*last)) {
			last = &t
		}
	}
	if o.CronJobLastSchedule != nil {
		consider(*o.CronJobLastSchedule)
	}
	for _, j := range o.Jobs {
		consider(j.Start)
	}
	if last == nil && prev != nil {
		t := prev.Time
		last = &t
	}
	return last
}

// NowJobsToPrune are the finished refresh-now Jobs beyond the history
// limits (the CronJob controller prunes its own). Only Jobs the status has
// already recorded (finished no later than recorded) are pruned.
func NowJobsToPrune(jobs []ObservedJob, recorded *deployv1alpha1.RefreshRecord, succeededLimit, failedLimit *int32) []string {
	if recorded == nil || recorded.FinishedAt == nil {
		return nil
	}
	var done []ObservedJob
	for _, j := range jobs {
		if j.Now && j.Finished() && !j.Finish.After(recorded.FinishedAt.Time) {
			done = append(done, j)
		}
	}
	sort.Slice(done, func(a, b int) bool { return done[a].Finish.After(done[b].Finish) })
	keep := map[JobState]int32{JobSucceeded: limit(succeededLimit), JobFailed: limit(failedLimit)}
	var prune []string
	for _, j := range done {
		if keep[j.State] > 0 {
			keep[j.State]--
			continue
		}
		prune = append(prune, j.Name)
	}
	return prune
}

func limit(l *int32) int32 {
	if l == nil {
		return 3
	}
	return *l
}

func seconds(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Second).UTC()
}

func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(seconds(t))
	return &mt
}

func runningMessage(j *ObservedJob) string {
	msg := fmt.Sprintf("Refresh Job %s is running since %s", j.Name, j.Start.UTC().Format(time.RFC3339))
	if j.Problem != "" {
		msg += "; it is failing: " + j.Problem
	}
	return msg
}

func failingMessage(j *ObservedJob) string {
	return fmt.Sprintf("Refresh Job %s is failing; dev keeps its current copy: %s", j.Name, j.Problem)
}

// wasRunning tells whether the previous status already reported job as
// running, so that its start is recorded as an event once.
func wasRunning(prev []metav1.Condition, job string) bool {
	c := meta.FindStatusCondition(prev, deployv1alpha1.ConditionProgressing)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == deployv1alpha1.ReasonRefreshRunning &&
		strings.HasPrefix(c.Message, "Refresh Job "+job+" ")
}

// reported tells whether the previous status's Degraded condition already
// says msg, so that a failing Job is recorded as an event once per reason.
func reported(prev []metav1.Condition, msg string) bool {
	c := meta.FindStatusCondition(prev, deployv1alpha1.ConditionDegraded)
	return c != nil && c.Status == metav1.ConditionTrue && c.Message == msg
}
