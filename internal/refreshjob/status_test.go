package refreshjob

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

func schedule(t *testing.T) *Schedule {
	s, err := ParseSchedule("0 3 * * *", ptr.To("Etc/UTC"))
	if err != nil {
		t.Fatal(err)
	}
	return &s
}

func cond(t *testing.T, st deployv1alpha1.DatabaseRefreshStatus, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, st.Conditions)
	}
	return *c
}

func wantCond(t *testing.T, st deployv1alpha1.DatabaseRefreshStatus, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	if c := cond(t, st, typ); c.Status != status || c.Reason != reason {
		t.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

func reasons(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Reason)
	}
	return out
}

func TestPlanBeforeTheFirstRefresh(t *testing.T) {
	p := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, Observation{Now: t0, Generation: 2, Schedule: schedule(t)})
	st := p.Status
	wantCond(t, st, deployv1alpha1.ConditionReady, metav1.ConditionTrue, deployv1alpha1.ReasonScheduled)
	wantCond(t, st, deployv1alpha1.ConditionReconciling, metav1.ConditionFalse, deployv1alpha1.ReasonScheduled)
	wantCond(t, st, deployv1alpha1.ConditionStalled, metav1.ConditionFalse, deployv1alpha1.ReasonScheduled)
	if st.ObservedGeneration != 2 || !st.NextScheduleTime.Equal(ptr.To(metav1.NewTime(t0.Add(24*time.Hour)))) {
		t.Errorf("status = %+v", st)
	}
	if p.RequeueAfter != 24*time.Hour+time.Second {
		t.Errorf("requeue after %s", p.RequeueAfter)
	}
	if len(p.Events) != 0 || p.RestartAt != nil {
		t.Errorf("events %v restart %v", p.Events, p.RestartAt)
	}
	// The same world again changes nothing.
	again := PlanStatus(st, Observation{Now: t0.Add(time.Minute), Generation: 2, Schedule: schedule(t)})
	if !meta.IsStatusConditionTrue(again.Status.Conditions, deployv1alpha1.ConditionReady) || len(again.Events) != 0 {
		t.Errorf("second pass: %+v", again)
	}
}

func TestPlanARefreshFromStartToSuccess(t *testing.T) {
	obs := Observation{Now: t0, Generation: 1, Schedule: schedule(t), SiteDeployment: "site"}
	running := ObservedJob{Name: "r-1", State: JobActive, Start: t0}

	obs.Jobs = []ObservedJob{running}
	p := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, obs)
	wantCond(t, p.Status, deployv1alpha1.ConditionProgressing, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshRunning)
	wantCond(t, p.Status, deployv1alpha1.ConditionReconciling, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshRunning)
	if got := reasons(p.Events); len(got) != 1 || got[0] != EventRefreshStarted {
		t.Errorf("events = %v", got)
	}
	if !p.Status.LastScheduleTime.Time.Equal(t0) {
		t.Errorf("last schedule = %v", p.Status.LastScheduleTime)
	}
	if again := PlanStatus(p.Status, obs); len(again.Events) != 0 {
		t.Errorf("started twice: %v", reasons(again.Events))
	}

	done := running
	done.State, done.Finish = JobSucceeded, t0.Add(10*time.Minute)
	taken := t0.Add(-2 * time.Hour)
	obs.Now, obs.Jobs = t0.Add(11*time.Minute), []ObservedJob{done}
	obs.Finished = &Finished{Job: done, Result: &refreshwire.Result{Result: refreshwire.Succeeded, Source: "n.dump", Bytes: 42, DataTakenAt: &taken}}
	p = PlanStatus(p.Status, obs)
	st := p.Status
	wantCond(t, st, deployv1alpha1.ConditionReady, metav1.ConditionTrue, deployv1alpha1.ReasonSucceeded)
	wantCond(t, st, deployv1alpha1.ConditionReconciling, metav1.ConditionFalse, deployv1alpha1.ReasonScheduled)
	if r := st.LastRefresh; r == nil || r.Job != "r-1" || r.Result != deployv1alpha1.RefreshSucceeded || r.Source != "n.dump" || r.Bytes != 42 ||
		!r.StartedAt.Time.Equal(t0) || !r.FinishedAt.Time.Equal(done.Finish) {
		t.Errorf("last refresh = %+v", r)
	}
	if !st.LastSuccessfulTime.Time.Equal(done.Finish) || !st.DataTakenAt.Time.Equal(taken) {
		t.Errorf("last success %v data taken %v", st.LastSuccessfulTime, st.DataTakenAt)
	}
	if p.RestartAt == nil || !p.RestartAt.Equal(done.Finish) {
		t.Errorf("restart at %v", p.RestartAt)
	}
	if got := reasons(p.Events); len(got) != 1 || got[0] != EventRefreshSucceeded {
		t.Errorf("events = %v", got)
	}
}

func TestPlanFailureIsDegradedUntilTheNextSuccess(t *testing.T) {
	obs := Observation{Now: t0, Generation: 1, Schedule: schedule(t), SiteDeployment: "site"}
	failed := ObservedJob{Name: "r-1", State: JobFailed, Start: t0, Finish: t0.Add(time.Minute)}
	obs.Jobs = []ObservedJob{failed}
	obs.Finished = &Finished{Job: failed, Result: &refreshwire.Result{Result: refreshwire.Failed, Error: "no backup matches *.dump"}}
	p := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, obs)
	wantCond(t, p.Status, deployv1alpha1.ConditionReady, metav1.ConditionFalse, deployv1alpha1.ReasonRefreshFailed)
	wantCond(t, p.Status, deployv1alpha1.ConditionDegraded, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshFailed)
	wantCond(t, p.Status, deployv1alpha1.ConditionStalled, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshFailed)
	if c := cond(t, p.Status, deployv1alpha1.ConditionDegraded); !strings.Contains(c.Message, "no backup matches *.dump") {
		t.Errorf("message %q", c.Message)
	}
	if p.RestartAt != nil || p.Status.LastSuccessfulTime != nil {
		t.Error("a failure restarts the site or counts as success")
	}
	if got := reasons(p.Events); len(got) != 1 || got[0] != EventRefreshFailed || !p.Events[0].Warning {
		t.Errorf("events = %+v", p.Events)
	}

	// A retry runs: InProgress for kstatus (Reconciling comes first), still Degraded.
	retry := ObservedJob{Name: "r-2", State: JobActive, Start: t0.Add(time.Hour)}
	obs.Now, obs.Finished, obs.Jobs = t0.Add(time.Hour), nil, []ObservedJob{failed, retry}
	p = PlanStatus(p.Status, obs)
	wantCond(t, p.Status, deployv1alpha1.ConditionDegraded, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshFailed)
	if p.Status.Conditions[2].Type != deployv1alpha1.ConditionReconciling || p.Status.Conditions[2].Status != metav1.ConditionTrue {
		t.Errorf("conditions order = %+v", p.Status.Conditions)
	}

	retry.State, retry.Finish = JobSucceeded, t0.Add(2*time.Hour)
	obs.Now, obs.Jobs = t0.Add(2*time.Hour), []ObservedJob{failed, retry}
	obs.Finished = &Finished{Job: retry, Result: &refreshwire.Result{Result: refreshwire.Succeeded}}
	p = PlanStatus(p.Status, obs)
	wantCond(t, p.Status, deployv1alpha1.ConditionDegraded, metav1.ConditionFalse, deployv1alpha1.ReasonSucceeded)
	wantCond(t, p.Status, deployv1alpha1.ConditionStalled, metav1.ConditionFalse, deployv1alpha1.ReasonSucceeded)
	wantCond(t, p.Status, deployv1alpha1.ConditionReady, metav1.ConditionTrue, deployv1alpha1.ReasonSucceeded)
	if c := cond(t, p.Status, deployv1alpha1.ConditionDegraded); !c.LastTransitionTime.Time.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("Degraded changed at %v, want the injected clock", c.LastTransitionTime)
	}
}

func TestPlanInvalidSpec(t *testing.T) {
	_, err := ParseSchedule("0 3 * * *", ptr.To("Mars/Olympus"))
	p := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, Observation{Now: t0, Generation: 3, Blocked: err})
	wantCond(t, p.Status, deployv1alpha1.ConditionReady, metav1.ConditionFalse, deployv1alpha1.ReasonInvalidSpec)
	wantCond(t, p.Status, deployv1alpha1.ConditionStalled, metav1.ConditionTrue, deployv1alpha1.ReasonInvalidSpec)
	wantCond(t, p.Status, deployv1alpha1.ConditionReconciling, metav1.ConditionFalse, deployv1alpha1.ReasonInvalidSpec)
	if p.RequeueAfter != 0 || p.Status.NextScheduleTime != nil || p.Status.ObservedGeneration != 3 {
		t.Errorf("plan = %+v", p)
	}
}

func TestFailedJobWithoutResult(t *testing.T) {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "r-1", CreationTimestamp: metav1.NewTime(t0)},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
				Message: "Job has reached the specified backoff limit", LastTransitionTime: metav1.NewTime(t0.Add(time.Minute))},
		}},
	}
	o := ObserveJob(job, false)
	if o.State != JobFailed || !o.Finish.Equal(t0.Add(time.Minute)) {
		t.Fatalf("observed %+v", o)
	}
	res, ok := ResultFromPods([]corev1.Pod{{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
		Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: "panic: oops"}},
	}}}}})
	if ok {
		t.Fatalf("parsed %+v from a non-JSON message", res)
	}
	rec := Finished{Job: o}.Record()
	if rec.Result != deployv1alpha1.RefreshFailed || !strings.Contains(rec.Message, "BackoffLimitExceeded: Job has reached the specified backoff limit") ||
		rec.FailedStep != refreshwire.StepJob {
		t.Errorf("record = %+v", rec)
	}
	rec = Finished{Job: o, Result: &refreshwire.Result{Result: refreshwire.Failed, Error: "cut short", Step: refreshwire.StepSource}}.Record()
	if rec.FailedStep != refreshwire.StepSource || rec.Message != "cut short" {
		t.Errorf("record of the runner's failure = %+v, want step source", rec)
	}
}

func TestResultFromThePodThatEndedLast(t *testing.T) {
	pod := func(at time.Time, msg string) corev1.Pod {
		return corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				FinishedAt: metav1.NewTime(at), Message: msg}},
		}}}}
	}
	res, ok := ResultFromPods([]corev1.Pod{
		pod(t0, `{"result":"Failed","error":"first attempt"}`),
		pod(t0.Add(time.Minute), `{"result":"Succeeded","source":"b.dump","bytes":7}`+"\n"),
	})
	if !ok || res.Result != refreshwire.Succeeded || res.Source != "b.dump" || res.Bytes != 7 {
		t.Errorf("result = %+v, %v", res, ok)
	}
}

func TestPruneOnlyRecordedNowJobs(t *testing.T) {
	jobs := []ObservedJob{
		{Name: "now-1", Now: true, State: JobSucceeded, Finish: t0},
		{Name: "now-2", Now: true, State: JobSucceeded, Finish: t0.Add(time.Hour)},
		{Name: "now-3", Now: true, State: JobSucceeded, Finish: t0.Add(2 * time.Hour)},
		{Name: "cron-1", State: JobSucceeded, Finish: t0},
		{Name: "now-4", Now: true, State: JobActive},
	}
	rec := &deployv1alpha1.RefreshRecord{Job: "now-2", FinishedAt: ptr.To(metav1.NewTime(t0.Add(time.Hour)))}
	got := NowJobsToPrune(jobs, rec, ptr.To[int32](1), ptr.To[int32](1))
	if len(got) != 1 || got[0] != "now-1" {
		t.Errorf("prune = %v, want [now-1]", got)
	}
}

func TestStartedOncePerJob(t *testing.T) {
	obs := Observation{Now: t0, Generation: 1, Schedule: schedule(t)}
	// Created at t0; the Job controller sets startTime a second later.
	obs.Jobs = []ObservedJob{{Name: "r-1", State: JobActive, Start: t0}}
	p := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, obs)
	obs.Jobs[0].Start = t0.Add(time.Second)
	again := PlanStatus(p.Status, obs)
	if len(p.Events) != 1 || len(again.Events) != 0 {
		t.Errorf("events %v then %v, want one RefreshStarted", reasons(p.Events), reasons(again.Events))
	}
	// The next Job is a new start, even with no pass in between.
	obs.Jobs = []ObservedJob{{Name: "r-1", State: JobSucceeded, Start: t0, Finish: t0.Add(time.Minute)},
		{Name: "r-2", State: JobActive, Start: t0.Add(2 * time.Minute)}}
	next := PlanStatus(again.Status, obs)
	if got := reasons(next.Events); len(got) != 1 || got[0] != EventRefreshStarted || next.Events[0].Job != "r-2" {
		t.Errorf("events = %+v", next.Events)
	}
}

func TestPlanASuccessWithWarningsShowsThem(t *testing.T) {
	done := ObservedJob{Name: "r-1", State: JobSucceeded, Start: t0, Finish: t0.Add(time.Minute)}
	const warning = "kept every previous copy (keepPrevious not applied): the backup lo.dir cannot be proven complete"
	obs := Observation{Now: t0.Add(2 * time.Minute), Generation: 1, Schedule: schedule(t), Jobs: []ObservedJob{done},
		Finished: &Finished{Job: done, Result: &refreshwire.Result{Result: refreshwire.Succeeded, Source: "lo.dir", Warnings: []string{warning}}}}
	st := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, obs).Status
	wantCond(t, st, deployv1alpha1.ConditionReady, metav1.ConditionTrue, deployv1alpha1.ReasonSucceeded)
	if r := st.LastRefresh; r == nil || r.Result != deployv1alpha1.RefreshSucceeded || r.Message != "succeeded with warnings: "+warning {
		t.Errorf("last refresh = %+v", r)
	}
	if c := cond(t, st, deployv1alpha1.ConditionReady); !strings.HasSuffix(c.Message, "new copy swapped in from lo.dir; succeeded with warnings: "+warning) {
		t.Errorf("Ready message = %q", c.Message)
	}
}

func TestPlanRunningJobThatCannotStartIsDegraded(t *testing.T) {
	obs := Observation{Now: t0, Generation: 1, Schedule: schedule(t)}
	obs.Jobs = []ObservedJob{{Name: "r-1", State: JobActive, Start: t0,
		Problem: `pod p: container refresh-runner cannot start: CreateContainerConfigError: secret "db" not found`}}
	p := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, obs)
	st := p.Status
	if got := reasons(p.Events); len(got) != 2 || got[1] != EventRefreshFailing || !p.Events[1].Warning {
		t.Errorf("events = %v", got)
	}
	if again := PlanStatus(st, obs); len(again.Events) != 0 {
		t.Errorf("reported twice: %v", reasons(again.Events))
	}
	// Dev still serves its copy: Ready says nothing about the running Job.
	wantCond(t, st, deployv1alpha1.ConditionReady, metav1.ConditionTrue, deployv1alpha1.ReasonScheduled)
	wantCond(t, st, deployv1alpha1.ConditionDegraded, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshFailing)
	wantCond(t, st, deployv1alpha1.ConditionStalled, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshFailing)
	wantCond(t, st, deployv1alpha1.ConditionProgressing, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshRunning)
	for _, typ := range []string{deployv1alpha1.ConditionDegraded, deployv1alpha1.ConditionProgressing} {
		if c := cond(t, st, typ); !strings.Contains(c.Message, `CreateContainerConfigError: secret "db" not found`) {
			t.Errorf("%s message = %q", typ, c.Message)
		}
	}
}
