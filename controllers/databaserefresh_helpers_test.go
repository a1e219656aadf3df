package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refresh"
)

// Distinctive credential values: none may ever appear in a CronJob or Job.
const (
	refreshTargetPassword = "tgt-pw-7Qm2xV9kLr"
	refreshSourcePassword = "src-pw-J4nB8wZt1c"
)

// refreshUnderTest is a DatabaseRefresh under test and the helpers that
// play kube-controller-manager around it.
type refreshUnderTest struct {
	t  *testing.T
	ns string
	dr *v1.DatabaseRefresh
}

// newRefresh creates the connection Secrets and a DatabaseRefresh restoring
// from a backup volume into dev, in a namespace of its own.
func newRefresh(t *testing.T, mutate ...func(*v1.DatabaseRefresh)) *refreshUnderTest {
	t.Helper()
	ns := newNamespace(t)
	for name, pw := range map[string]string{"dev-admin": refreshTargetPassword, "replica": refreshSourcePassword} {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			StringData: map[string]string{"host": name + ".db.internal", "port": "5432", "username": "admin", "password": pw},
		}
		if err := k8sClient.Create(context.Background(), s); err != nil {
			t.Fatalf("cannot create Secret: %v", err)
		}
	}
	dr := &v1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: ns},
		Spec: v1.DatabaseRefreshSpec{
			Schedule: "0 3 * * *",
			TimeZone: ptr.To("Europe/Berlin"),
			Source: v1.RefreshSource{Backup: &v1.BackupSource{
				Volume:  &corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "backups"}},
				Path:    "/nightly",
				Pattern: "*.dump*",
			}},
			Target: v1.RefreshTarget{
				ConnectionSecretRef: v1.SecretReference{Name: "dev-admin"},
				Name:                "service0_dev",
				Owner:               "service0_dev",
			},
			Sanitize: []v1.SanitizeStep{{SQL: "UPDATE users SET email = 'dev+' || id || '@example.invalid'"}},
		},
	}
	for _, m := range mutate {
		m(dr)
	}
	if err := k8sClient.Create(context.Background(), dr); err != nil {
		t.Fatalf("cannot create DatabaseRefresh: %v", err)
	}
	return &refreshUnderTest{t: t, ns: ns, dr: dr}
}

func (r *refreshUnderTest) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: r.ns, Name: name}
}

func (r *refreshUnderTest) get() *v1.DatabaseRefresh {
	r.t.Helper()
	dr := &v1.DatabaseRefresh{}
	if err := k8sClient.Get(context.Background(), r.key(r.dr.Name), dr); err != nil {
		r.t.Fatalf("cannot get DatabaseRefresh: %v", err)
	}
	return dr
}

// update changes the DatabaseRefresh, retrying on conflicts.
func (r *refreshUnderTest) update(mutate func(*v1.DatabaseRefresh)) {
	r.t.Helper()
	updateWithRetry(r.t, r.get(), mutate)
}

func (r *refreshUnderTest) annotate(k, v string) {
	r.t.Helper()
	annotate(r.t, r.get(), k, v)
}

// waitFor waits until the DatabaseRefresh's status satisfies check.
func (r *refreshUnderTest) waitFor(what string, check func(*v1.DatabaseRefresh) error) *v1.DatabaseRefresh {
	r.t.Helper()
	var dr *v1.DatabaseRefresh
	eventually(r.t, what, func() error {
		dr = r.get()
		return check(dr)
	})
	return dr
}

// waitCondition waits for a condition of the current generation.
func (r *refreshUnderTest) waitCondition(typ string, st metav1.ConditionStatus, reason string) *v1.DatabaseRefresh {
	r.t.Helper()
	return r.waitFor(fmt.Sprintf("%s=%s/%s", typ, st, reason), func(dr *v1.DatabaseRefresh) error {
		c := apimeta.FindStatusCondition(dr.Status.Conditions, typ)
		switch {
		case c == nil:
			return fmt.Errorf("no %s condition", typ)
		case dr.Status.ObservedGeneration != dr.Generation:
			return fmt.Errorf("generation %d not observed (%d)", dr.Generation, dr.Status.ObservedGeneration)
		case c.Status != st || c.Reason != reason:
			return fmt.Errorf("%s is %s/%s: %s", typ, c.Status, c.Reason, c.Message)
		}
		return nil
	})
}

func (r *refreshUnderTest) cronJob() *batchv1.CronJob {
	r.t.Helper()
	cj := &batchv1.CronJob{}
	eventually(r.t, "CronJob", func() error { return k8sClient.Get(context.Background(), r.key(r.dr.Name), cj) })
	return cj
}

// startJob creates a Job of the CronJob as the CronJob controller would,
// and its pod as the Job controller would.
func (r *refreshUnderTest) startJob(name string, start time.Time) (*batchv1.Job, *corev1.Pod) {
	r.t.Helper()
	cj := r.cronJob()
	tmpl := cj.Spec.JobTemplate
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: r.ns, Labels: tmpl.Labels, Annotations: tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))},
		},
		Spec: tmpl.Spec,
	}
	if err := k8sClient.Create(context.Background(), job); err != nil {
		r.t.Fatalf("cannot create Job: %v", err)
	}
	st := metav1.NewTime(start)
	job.Status.StartTime, job.Status.Active = &st, 1
	if err := k8sClient.Status().Update(context.Background(), job); err != nil {
		r.t.Fatalf("cannot start Job: %v", err)
	}
	return job, r.createPod(job)
}

// createPod creates a running pod of the Job, with the labels the API
// server gave the Job's template.
func (r *refreshUnderTest) createPod(job *batchv1.Job) *corev1.Pod {
	r.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name + "-x1", Namespace: r.ns, Labels: job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: job.Spec.Template.Spec,
	}
	if err := k8sClient.Create(context.Background(), pod); err != nil {
		r.t.Fatalf("cannot create pod: %v", err)
	}
	return pod
}

// finishJob plays the kubelet and the Job controller: the runner container
// terminates with message, then the Job is marked Complete or Failed.
func (r *refreshUnderTest) finishJob(job *batchv1.Job, pod *corev1.Pod, ok bool, message string, finish time.Time) {
	r.t.Helper()
	ctx := context.Background()
	exit := int32(0)
	if !ok {
		exit = 1
	}
	fin := metav1.NewTime(finish)
	eventually(r.t, "terminate pod "+pod.Name, func() error {
		p := &corev1.Pod{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), p); err != nil {
			return err
		}
		p.Status.Phase = corev1.PodSucceeded
		if !ok {
			p.Status.Phase = corev1.PodFailed
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "refresh-runner", Image: p.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exit, Message: message, FinishedAt: fin, StartedAt: *job.Status.StartTime,
			}},
		}}
		return k8sClient.Status().Update(ctx, p)
	})
	eventually(r.t, "finish Job "+job.Name, func() error {
		j := &batchv1.Job{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), j); err != nil {
			return err
		}
		j.Status.Active = 0
		if j.Status.StartTime == nil {
			j.Status.StartTime = ptr.To(metav1.NewTime(finish.Add(-time.Minute)))
		}
		if ok {
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: fin},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: fin}}
			j.Status.Succeeded, j.Status.CompletionTime = 1, &fin
		} else {
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: fin},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
					Message: "Job has reached the specified backoff limit", LastTransitionTime: fin}}
			j.Status.Failed = 1
		}
		return k8sClient.Status().Update(ctx, j)
	})
}

// runJob runs one scheduled refresh from start to end.
func (r *refreshUnderTest) runJob(name string, ok bool, res refresh.Result, finish time.Time) *batchv1.Job {
	r.t.Helper()
	job, pod := r.startJob(name, finish.Add(-10*time.Minute))
	msg, err := json.Marshal(res)
	if err != nil {
		r.t.Fatal(err)
	}
	r.finishJob(job, pod, ok, string(msg), finish)
	return job
}

// jobs are the refresh Jobs in the namespace.
func (r *refreshUnderTest) jobs() []batchv1.Job {
	r.t.Helper()
	var list batchv1.JobList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(r.ns),
		client.MatchingLabels{v1.LabelRefresh: r.dr.Name}); err != nil {
		r.t.Fatalf("cannot list Jobs: %v", err)
	}
	return list.Items
}

// waitEvent waits for an event of reason about the DatabaseRefresh.
func (r *refreshUnderTest) waitEvent(reason string) eventsv1.Event {
	r.t.Helper()
	var found eventsv1.Event
	eventually(r.t, "event "+reason, func() error {
		var list eventsv1.EventList
		if err := k8sClient.List(context.Background(), &list, client.InNamespace(r.ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Reason == reason && e.Regarding.Kind == "DatabaseRefresh" && e.Regarding.Name == r.dr.Name {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no %s event among %d", reason, len(list.Items))
	})
	return found
}

func refreshCondition(dr *v1.DatabaseRefresh, typ string) *metav1.Condition {
	return apimeta.FindStatusCondition(dr.Status.Conditions, typ)
}
