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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

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
