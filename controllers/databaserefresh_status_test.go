package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refresh"
)

func TestDatabaseRefreshStatusFromFinishedJob(t *testing.T) {
	ctx := context.Background()
	site := &v1.SiteDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "service0-dev"},
		Spec: v1.SiteDeploymentSpec{
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "service0"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "service0:1"}}},
			},
			Service: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80}}},
		},
	}
	r := newRefresh(t, func(dr *v1.DatabaseRefresh) {
		dr.Spec.SiteDeploymentRef = &v1.LocalObjectReference{Name: site.Name}
	})
	site.Namespace = r.ns
	if err := k8sClient.Create(ctx, site); err != nil {
		t.Fatalf("cannot create SiteDeployment: %v", err)
	}
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)

	finish := time.Now().UTC().Truncate(time.Second)
	job, pod := r.startJob("nightly-29400000", finish.Add(-10*time.Minute))
	dr := r.waitCondition(v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonRefreshRunning)
	if got := kstatusOf(t, dr); got != status.InProgressStatus {
		t.Errorf("kstatus while running = %s, want InProgress", got)
	}
	if c := refreshCondition(dr, v1.ConditionProgressing); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, job.Name) {
		t.Errorf("Progressing = %+v", c)
	}
	r.waitEvent("RefreshStarted")

	taken := finish.Add(-5 * time.Hour)
	msg, _ := json.Marshal(refresh.Result{Result: refresh.Succeeded, Source: "nightly-2026-11-26.dump", DataTakenAt: &taken,
		Bytes: 123456, Target: "service0_dev", Previous: "service0_dev_prev_1"})
	r.finishJob(job, pod, true, string(msg), finish)

	dr = r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonSucceeded)
	lr := dr.Status.LastRefresh
	if lr == nil || lr.Job != job.Name || lr.Source != "nightly-2026-11-26.dump" || lr.Bytes != 123456 ||
		lr.Result != v1.RefreshSucceeded || lr.Message != "" || !lr.FinishedAt.Time.Equal(finish) ||
		!lr.StartedAt.Time.Equal(finish.Add(-10*time.Minute)) {
		t.Errorf("lastRefresh = %+v", lr)
	}
	if dr.Status.DataTakenAt == nil || !dr.Status.DataTakenAt.Time.Equal(taken) {
		t.Errorf("dataTakenAt = %v, want %v", dr.Status.DataTakenAt, taken)
	}
	if dr.Status.LastSuccessfulTime == nil || !dr.Status.LastSuccessfulTime.Time.Equal(finish) {
		t.Errorf("lastSuccessfulTime = %v", dr.Status.LastSuccessfulTime)
	}
	if dr.Status.LastScheduleTime == nil || !dr.Status.LastScheduleTime.Time.Equal(finish.Add(-10*time.Minute)) {
		t.Errorf("lastScheduleTime = %v", dr.Status.LastScheduleTime)
	}
	if c := refreshCondition(dr, v1.ConditionReconciling); c.Status != metav1.ConditionFalse {
		t.Errorf("Reconciling = %+v", c)
	}
	if got := kstatusOf(t, dr); got != status.CurrentStatus {
		t.Errorf("kstatus = %s, want Current", got)
	}
	r.waitEvent("RefreshSucceeded")

	// The SiteDeployment is asked to restart, by one annotation, once.
	var restarted *v1.SiteDeployment
	eventually(t, "restarted-at on the SiteDeployment", func() error {
		restarted = &v1.SiteDeployment{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(site), restarted); err != nil {
			return err
		}
		if got := restarted.Annotations[v1.AnnotationRestartedAt]; got != finish.Format(time.RFC3339) {
			return fmt.Errorf("restarted-at = %q, want %q", got, finish.Format(time.RFC3339))
		}
		return nil
	})
	if restarted.Generation != 1 {
		t.Errorf("the SiteDeployment's spec was changed: generation %d", restarted.Generation)
	}
	// A person restarting the site by hand is not overridden on resync.
	annotate(t, restarted, v1.AnnotationRestartedAt, "by-hand")
	r.annotate("example.com/touch", "1")
	consistently(t, "one restart per successful Job", time.Second, func() error {
		cur := &v1.SiteDeployment{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(site), cur); err != nil {
			return err
		}
		if got := cur.Annotations[v1.AnnotationRestartedAt]; got != "by-hand" {
			return fmt.Errorf("restarted again: %q", got)
		}
		return nil
	})
}

func TestDatabaseRefreshFailureIsDegradedUntilTheNextSuccess(t *testing.T) {
	r := newRefresh(t)
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	base := time.Now().UTC().Truncate(time.Second)

	r.runJob("nightly-1", false, refresh.Result{Result: refresh.Failed, Error: `no file matches "*.dump*" in /backup/nightly`}, base)
	dr := r.waitCondition(v1.ConditionDegraded, metav1.ConditionTrue, v1.ReasonRefreshFailed)
	for _, typ := range []string{v1.ConditionDegraded, v1.ConditionStalled, v1.ConditionReady} {
		if c := refreshCondition(dr, typ); !strings.Contains(c.Message, `no file matches "*.dump*" in /backup/nightly`) {
			t.Errorf("%s message = %q", typ, c.Message)
		}
	}
	if c := refreshCondition(dr, v1.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v", c)
	}
	if lr := dr.Status.LastRefresh; lr == nil || lr.Result != v1.RefreshFailed || lr.Job != "nightly-1" {
		t.Errorf("lastRefresh = %+v", lr)
	}
	if dr.Status.LastSuccessfulTime != nil {
		t.Errorf("lastSuccessfulTime = %v after a failure", dr.Status.LastSuccessfulTime)
	}
	if got := kstatusOf(t, dr); got != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed", got)
	}
	if ev := r.waitEvent("RefreshFailed"); ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, "no file matches") {
		t.Errorf("event = %s %q", ev.Type, ev.Note)
	}

	// A Job that fails without a result still counts, with the Job's reason.
	job, pod := r.startJob("nightly-2", base.Add(time.Minute))
	r.finishJob(job, pod, false, "", base.Add(2*time.Minute))
	dr = r.waitFor("failure without a result", func(dr *v1.DatabaseRefresh) error {
		if lr := dr.Status.LastRefresh; lr == nil || lr.Job != "nightly-2" {
			return fmt.Errorf("lastRefresh = %+v", lr)
		}
		return nil
	})
	if lr := dr.Status.LastRefresh; lr.Result != v1.RefreshFailed || !strings.Contains(lr.Message, "BackoffLimitExceeded") {
		t.Errorf("lastRefresh = %+v", lr)
	}
	if c := refreshCondition(dr, v1.ConditionStalled); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "BackoffLimitExceeded") {
		t.Errorf("Stalled = %+v", c)
	}

	r.runJob("nightly-3", true, refresh.Result{Result: refresh.Succeeded, Source: "n.dump"}, base.Add(3*time.Minute))
	dr = r.waitCondition(v1.ConditionDegraded, metav1.ConditionFalse, v1.ReasonSucceeded)
	if c := refreshCondition(dr, v1.ConditionStalled); c.Status != metav1.ConditionFalse {
		t.Errorf("Stalled = %+v", c)
	}
	if c := refreshCondition(dr, v1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v", c)
	}
	if got := kstatusOf(t, dr); got != status.CurrentStatus {
		t.Errorf("kstatus = %s, want Current", got)
	}
}
