package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refresh"
)

func TestDatabaseRefreshRendersCronJob(t *testing.T) {
	ctx := context.Background()
	r := newRefresh(t, func(dr *v1.DatabaseRefresh) {
		dr.Spec.Sanitize = append(dr.Spec.Sanitize, v1.SanitizeStep{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "scrub"}, Key: "scrub.sql"}})
		dr.Spec.JobTemplate = &v1.RunnerPodOverrides{
			NodeSelector: map[string]string{"disk": "ssd"},
			Env:          []corev1.EnvVar{{Name: "PGAPPNAME", Value: "understudy"}},
		}
	})
	scrub := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "scrub", Namespace: r.ns},
		Data: map[string]string{"scrub.sql": "TRUNCATE sessions"}}
	if err := k8sClient.Create(ctx, scrub); err != nil {
		t.Fatal(err)
	}

	dr := r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	cj := r.cronJob()
	if ref := metav1.GetControllerOf(cj); ref == nil || ref.UID != dr.UID || cj.Labels[v1.LabelRefresh] != dr.Name {
		t.Errorf("CronJob owner %+v labels %v", ref, cj.Labels)
	}
	if cj.Spec.Schedule != "0 3 * * *" || ptr.Deref(cj.Spec.TimeZone, "") != "Europe/Berlin" ||
		cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || ptr.Deref(cj.Spec.Suspend, true) {
		t.Errorf("CronJob spec = %+v", cj.Spec)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != runnerImage || pod.RestartPolicy != corev1.RestartPolicyNever || pod.NodeSelector["disk"] != "ssd" {
		t.Errorf("pod = %+v", pod)
	}
	if !strings.Contains(strings.Join(c.Args, " "), "--target-db service0_dev --owner service0_dev") ||
		!strings.Contains(strings.Join(c.Args, " "), "--backup-dir /backup/nightly --pattern *.dump*") {
		t.Errorf("args = %v", c.Args)
	}
	for _, m := range c.VolumeMounts {
		if (m.MountPath == "/backup" || m.MountPath == "/sanitize") != m.ReadOnly {
			t.Errorf("mount %s read-only = %v", m.MountPath, m.ReadOnly)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, name := range []string{refresh.EnvTargetHost, refresh.EnvTargetPort, refresh.EnvTargetUser, refresh.EnvTargetPassword, refresh.EnvTargetSSLMode} {
		if e := env[name]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "dev-admin" {
			t.Errorf("%s = %+v, want a reference to Secret dev-admin", name, e)
		}
	}
	if env["PGAPPNAME"].Value != "understudy" {
		t.Errorf("user env = %+v", env["PGAPPNAME"])
	}
	if b, _ := json.Marshal(cj); strings.Contains(string(b), refreshTargetPassword) {
		t.Error("the CronJob holds the target password")
	}

	sanitize := &corev1.ConfigMap{}
	if err := k8sClient.Get(ctx, r.key("nightly-sanitize"), sanitize); err != nil {
		t.Fatal(err)
	}
	if sanitize.Data["000.sql"] != dr.Spec.Sanitize[0].SQL || sanitize.Data["001.sql"] != "TRUNCATE sessions" {
		t.Errorf("sanitize data = %v", sanitize.Data)
	}

	// 03:00 in Berlin in November is 02:00 UTC.
	now := fakeClock.Now().UTC()
	want := time.Date(now.Year(), now.Month(), now.Day(), 2, 0, 0, 0, time.UTC)
	for !want.After(now) {
		want = want.Add(24 * time.Hour)
	}
	if dr.Status.NextScheduleTime == nil || !dr.Status.NextScheduleTime.Time.Equal(want) {
		t.Errorf("next schedule = %v, want %v", dr.Status.NextScheduleTime, want)
	}
	if got := kstatusOf(t, dr); got != status.CurrentStatus {
		t.Errorf("kstatus = %s, want Current", got)
	}

	// A change of the referenced ConfigMap reaches the sanitize ConfigMap.
	scrub.Data["scrub.sql"] = "TRUNCATE sessions, tokens"
	if err := k8sClient.Update(ctx, scrub); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sanitize ConfigMap follows scrub", func() error {
		if err := k8sClient.Get(ctx, r.key("nightly-sanitize"), sanitize); err != nil {
			return err
		}
		if sanitize.Data["001.sql"] != "TRUNCATE sessions, tokens" {
			return fmt.Errorf("001.sql = %q", sanitize.Data["001.sql"])
		}
		return nil
	})

	// A live-database source: its credentials are Secret references too.
	r.update(func(dr *v1.DatabaseRefresh) {
		dr.Spec.Source = v1.RefreshSource{Database: &v1.LiveDatabaseSource{
			ConnectionSecretRef: v1.SecretReference{Name: "replica"}, Name: "service0"}}
	})
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	eventually(t, "CronJob dumps the replica", func() error {
		cj = r.cronJob()
		c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		if !strings.Contains(strings.Join(c.Args, " "), "--source-db service0") {
			return fmt.Errorf("args = %v", c.Args)
		}
		for _, e := range c.Env {
			if e.Name == refresh.EnvSourcePassword && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
				e.ValueFrom.SecretKeyRef.Name == "replica" && e.ValueFrom.SecretKeyRef.Key == "password" {
				return nil
			}
		}
		return fmt.Errorf("no SOURCE_PASSWORD reference in %v", c.Env)
	})
	b, _ := json.Marshal(cj)
	for _, pw := range []string{refreshTargetPassword, refreshSourcePassword} {
		if strings.Contains(string(b), pw) {
			t.Errorf("the CronJob holds a password %q", pw)
		}
	}
	for _, v := range cj.Spec.JobTemplate.Spec.Template.Spec.Volumes {
		if v.Name == "backup" {
			t.Error("a live-database refresh still mounts the backup volume")
		}
	}

	// An idle resync writes nothing: a reconcile caused by an unrelated
	// annotation leaves the CronJob and the status as they are.
	if err := k8sClient.Get(ctx, r.key("nightly-sanitize"), sanitize); err != nil {
		t.Fatal(err)
	}
	rv, cmRV := cj.ResourceVersion, sanitize.ResourceVersion
	r.annotate("example.com/touch", "1")
	statusRV := r.get().ResourceVersion
	consistently(t, "children and status unchanged", time.Second, func() error {
		cur, cm := &batchv1.CronJob{}, &corev1.ConfigMap{}
		if err := k8sClient.Get(ctx, r.key("nightly"), cur); err != nil {
			return err
		}
		if err := k8sClient.Get(ctx, r.key("nightly-sanitize"), cm); err != nil {
			return err
		}
		if cur.ResourceVersion != rv || cm.ResourceVersion != cmRV {
			return fmt.Errorf("written on an idle resync: CronJob %s -> %s, ConfigMap %s -> %s", rv, cur.ResourceVersion, cmRV, cm.ResourceVersion)
		}
		if got := r.get().ResourceVersion; got != statusRV {
			return fmt.Errorf("status written on an idle resync: %s -> %s", statusRV, got)
		}
		return nil
	})
}

func TestDatabaseRefreshMissingSanitizeConfigMap(t *testing.T) {
	ctx := context.Background()
	r := newRefresh(t, func(dr *v1.DatabaseRefresh) {
		dr.Spec.Sanitize = append(dr.Spec.Sanitize, v1.SanitizeStep{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "scrub"}, Key: "scrub.sql"}})
	})
	dr := r.waitCondition(v1.ConditionDegraded, metav1.ConditionTrue, v1.ReasonInvalidSpec)
	if c := refreshCondition(dr, v1.ConditionDegraded); !strings.Contains(c.Message, `ConfigMap "scrub" not found`) {
		t.Errorf("message = %q", c.Message)
	}
	if got := kstatusOf(t, dr); got != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed", got)
	}
	// No CronJob runs a refresh without its sanitize SQL.
	if err := k8sClient.Get(ctx, r.key("nightly"), &batchv1.CronJob{}); !apierrors.IsNotFound(err) {
		t.Errorf("CronJob without sanitize SQL: err = %v", err)
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "scrub", Namespace: r.ns}, Data: map[string]string{"other.sql": "SELECT 1"}}
	if err := k8sClient.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	dr = r.waitFor("missing key", func(dr *v1.DatabaseRefresh) error {
		if c := refreshCondition(dr, v1.ConditionDegraded); c == nil || !strings.Contains(c.Message, `has no key "scrub.sql"`) {
			return fmt.Errorf("Degraded = %+v", c)
		}
		return nil
	})

	cm.Data["scrub.sql"] = "TRUNCATE sessions"
	if err := k8sClient.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	r.waitCondition(v1.ConditionDegraded, metav1.ConditionFalse, v1.ReasonScheduled)
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	r.cronJob()
}

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
	byHand := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+v1.AnnotationRestartedAt+`":"by-hand"}}}`))
	if err := k8sClient.Patch(ctx, restarted, byHand); err != nil { // as kubectl annotate does
		t.Fatal(err)
	}
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

	// The first refresh ends; a new token starts a second one.
	pod := r.createPod(&first)
	finish := time.Now().UTC().Truncate(time.Second)
	first.Status.StartTime = ptr.To(metav1.NewTime(finish.Add(-time.Minute)))
	r.finishJob(&first, pod, true, `{"result":"Succeeded","source":"n.dump"}`, finish)
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonSucceeded)

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

func TestDatabaseRefreshInvalidTimeZone(t *testing.T) {
	r := newRefresh(t, func(dr *v1.DatabaseRefresh) { dr.Spec.TimeZone = ptr.To("Mars/Olympus") })
	dr := r.waitCondition(v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonInvalidSpec)
	if c := refreshCondition(dr, v1.ConditionDegraded); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, `"Mars/Olympus"`) {
		t.Errorf("Degraded = %+v", c)
	}
	if c := refreshCondition(dr, v1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1.ReasonInvalidSpec {
		t.Errorf("Ready = %+v", c)
	}
	if got := kstatusOf(t, dr); got != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed", got)
	}
	if dr.Status.NextScheduleTime != nil {
		t.Errorf("nextScheduleTime = %v for an unknown zone", dr.Status.NextScheduleTime)
	}
	// No hot loop: the status is not rewritten.
	rv := dr.ResourceVersion
	consistently(t, "status left alone", time.Second, func() error {
		if cur := r.get(); cur.ResourceVersion != rv {
			return fmt.Errorf("rewritten: %s -> %s", rv, cur.ResourceVersion)
		}
		return nil
	})
	if err := k8sClient.Get(context.Background(), r.key("nightly"), &batchv1.CronJob{}); !apierrors.IsNotFound(err) {
		t.Errorf("CronJob for an unknown zone: %v", err)
	}

	r.update(func(dr *v1.DatabaseRefresh) { dr.Spec.TimeZone = ptr.To("Etc/UTC") })
	r.waitCondition(v1.ConditionStalled, metav1.ConditionFalse, v1.ReasonScheduled)
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	r.cronJob()
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

	r.finishJob(job, pod, true, `{"result":"Succeeded"}`, start.Add(time.Second))
	r.waitFor("refresh-now after nightly-1", func(dr *v1.DatabaseRefresh) error {
		if dr.Status.LastRefreshNowToken != "now" || len(r.jobs()) != 2 {
			return fmt.Errorf("token %q, %d Jobs", dr.Status.LastRefreshNowToken, len(r.jobs()))
		}
		return nil
	})
	r.waitCondition(v1.ConditionProgressing, metav1.ConditionTrue, v1.ReasonRefreshRunning)
}
