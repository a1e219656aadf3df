package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func TestDatabaseRefreshRefreshNowOncePerToken(t *testing.T) {
	ctx := context.Background()
	r := newRefresh(t, func(dr *v1.DatabaseRefresh) { dr.Spec.Suspend = true })
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPaused)
	generation := r.get().Generation

	nowJobs := func() []batchv1.Job {
		var out []batchv1.Job
		for _, j := range r.jobs() {
			if ref := metav1.GetControllerOf(&j); ref != nil && ref.Kind == "DatabaseRefresh" {
				out = append(out, j)
			}
		}
		return out
	}
	r.annotate(v1.AnnotationRefreshNow, "first")
	r.waitFor("token recorded", func(dr *v1.DatabaseRefresh) error {
		if dr.Status.LastRefreshNowToken != "first" {
			return fmt.Errorf("lastRefreshNowToken = %q", dr.Status.LastRefreshNowToken)
		}
		return nil
	})
	jobs := nowJobs()
	if len(jobs) != 1 {
		t.Fatalf("%d refresh-now Jobs, want 1", len(jobs))
	}
	first := jobs[0]
	if first.Spec.Template.Spec.Containers[0].Image != runnerImage || first.Annotations[v1.AnnotationRefreshNow] != "first" {
		t.Errorf("Job = %+v", first)
	}

	// The same token again (another annotation changes): no second Job.
	r.annotate("example.com/touch", "1")
	r.annotate(v1.AnnotationRefreshNow, "first")
	consistently(t, "one Job per token", time.Second, func() error {
		if n := len(nowJobs()); n != 1 {
			return fmt.Errorf("%d refresh-now Jobs", n)
		}
		return nil
	})

	// A second request while the first refresh runs is merged into it,
	// with an answer and an event: no second refresh runs.
	r.annotate(v1.AnnotationRefreshNow, "again")
	r.waitFor("second request answered", func(dr *v1.DatabaseRefresh) error {
		if a := dr.Status.Actions; len(a) != 1 || a[0].Value != "again" || !strings.HasPrefix(a[0].Message, "merged into refresh-now Job "+first.Name+", which is already running") {
			return fmt.Errorf("status.actions = %+v", a)
		}
		return nil
	})
	if ev := r.waitEvent("RefreshNowMerged"); ev.Type != "Normal" || !strings.Contains(ev.Note, v1.AnnotationRefreshNow+"=again merged into refresh-now Job "+first.Name) {
		t.Errorf("event = %s %q", ev.Type, ev.Note)
	}

	// The first refresh ends; no Job for the merged request; a new token
	// starts a second refresh.
	pod := r.createPod(&first)
	finish := time.Now().UTC().Truncate(time.Second)
	first.Status.StartTime = ptr.To(metav1.NewTime(finish.Add(-time.Minute)))
	r.finishJob(&first, pod, true, `{"result":"Succeeded","source":"n.dump"}`, finish)
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonSucceeded)
	consistently(t, "no Job for the merged request", time.Second, func() error {
		if n := len(nowJobs()); n != 1 {
			return fmt.Errorf("%d refresh-now Jobs", n)
		}
		return nil
	})

	r.annotate(v1.AnnotationRefreshNow, "second")
	r.waitFor("second token recorded", func(dr *v1.DatabaseRefresh) error {
		if dr.Status.LastRefreshNowToken != "second" {
			return fmt.Errorf("lastRefreshNowToken = %q", dr.Status.LastRefreshNowToken)
		}
		return nil
	})
	jobs = nowJobs()
	if len(jobs) != 2 {
		t.Errorf("%d refresh-now Jobs, want 2", len(jobs))
	}
	for _, j := range jobs {
		b, _ := json.Marshal(j)
		if strings.Contains(string(b), refreshTargetPassword) {
			t.Errorf("Job %s holds the target password", j.Name)
		}
	}
	if dr := r.get(); dr.Generation != generation || !dr.Spec.Suspend {
		t.Errorf("spec written: generation %d -> %d", generation, dr.Generation)
	}
	cj := &batchv1.CronJob{}
	if err := k8sClient.Get(ctx, r.key("nightly"), cj); err != nil || !ptr.Deref(cj.Spec.Suspend, false) {
		t.Errorf("CronJob suspended = %v (%v)", cj.Spec.Suspend, err)
	}
}

func TestDatabaseRefreshRefreshNowWaitsForARunningRefresh(t *testing.T) {
	r := newRefresh(t)
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	start := time.Now().UTC().Truncate(time.Second)
	job, pod := r.startJob("nightly-1", start)
	r.waitCondition(v1.ConditionProgressing, metav1.ConditionTrue, v1.ReasonRefreshRunning)

	// Two refreshes of one database must not overlap.
	r.annotate(v1.AnnotationRefreshNow, "now")
	consistently(t, "no refresh-now Job while nightly-1 runs", time.Second, func() error {
		if n := len(r.jobs()); n != 1 {
			return fmt.Errorf("%d Jobs", n)
		}
		if tok := r.get().Status.LastRefreshNowToken; tok != "" {
			return fmt.Errorf("token %q recorded", tok)
		}
		return nil
	})
	r.waitFor("queued behind nightly-1", func(dr *v1.DatabaseRefresh) error {
		if dr.Status.RefreshNowQueuedBehind != "nightly-1" {
			return fmt.Errorf("refreshNowQueuedBehind = %q", dr.Status.RefreshNowQueuedBehind)
		}
		return nil
	})
	if ev := r.waitEvent("RefreshQueued"); ev.Type != "Normal" || !strings.Contains(ev.Note, "nightly-1") {
		t.Errorf("event = %s %q", ev.Type, ev.Note)
	}

	r.finishJob(job, pod, true, `{"result":"Succeeded"}`, start.Add(time.Second))
	r.waitFor("refresh-now after nightly-1", func(dr *v1.DatabaseRefresh) error {
		if dr.Status.LastRefreshNowToken != "now" || len(r.jobs()) != 2 || dr.Status.RefreshNowQueuedBehind != "" {
			return fmt.Errorf("token %q, %d Jobs, queued behind %q", dr.Status.LastRefreshNowToken, len(r.jobs()), dr.Status.RefreshNowQueuedBehind)
		}
		return nil
	})
	r.waitCondition(v1.ConditionProgressing, metav1.ConditionTrue, v1.ReasonRefreshRunning)
}
