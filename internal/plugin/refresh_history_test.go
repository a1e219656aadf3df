package plugin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshjob"
)

// refreshJob creates a refresh Job of dbr started ago, and its runner pod;
// a finished one ends with the runner's result as the pod's termination
// message, as the kubelet reports it.
func refreshJob(t *testing.T, dbr *v1.DatabaseRefresh, name string, ago time.Duration, result string) {
	t.Helper()
	ctx := context.Background()
	start := metav1.NewTime(time.Now().Add(-ago).Truncate(time.Second))
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: dbr.Namespace, Labels: refreshjob.Labels(dbr)},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: refreshjob.Labels(dbr)},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: refreshjob.ContainerName, Image: "runner"}}}}},
	}
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, job) })
	job.Status.StartTime = &start
	if result != "" {
		end := metav1.NewTime(start.Add(90 * time.Second))
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: end},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end}}
		job.Status.Succeeded, job.Status.CompletionTime = 1, &end
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-x1", Namespace: dbr.Namespace, Labels: map[string]string{
				v1.LabelRefresh: dbr.Name, batchv1.JobNameLabel: name}},
			Spec: job.Spec.Template.Spec,
		}
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, pod) })
		pod.Status.Phase = corev1.PodSucceeded
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: refreshjob.ContainerName, Image: "runner",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: end, Message: result}}}}
		if err := env.Client.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Status().Update(ctx, job); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshHistoryListsKeptJobsNewestFirst(t *testing.T) {
	dbr := newRefresh(t, "dev-history")
	refreshJob(t, dbr, "dev-history-1", 48*time.Hour, `{"result":"Succeeded","source":"prod-monday.dump"}`)
	refreshJob(t, dbr, "dev-history-2", 24*time.Hour, `{"result":"Failed","source":"prod-tuesday.sql","error":"refusing the backup prod-tuesday.sql: it ends inside COPY of table public.users: the dump was cut short"}`)
	refreshJob(t, dbr, "dev-history-3", time.Minute, "")
	refreshJob(t, newRefresh(t, "other"), "other-1", time.Hour, `{"result":"Succeeded"}`)

	out, errOut, code := run(t, "refresh", "history", dbr.Name)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 Jobs, got:\n%s", out)
	}
	want := [][]string{
		{"dev-history-3", "Running"},
		{"dev-history-2", "1m30s", "Failed", "prod-tuesday.sql", "it ends inside COPY of table public.users"},
		{"dev-history-1", "1m30s", "Succeeded", "prod-monday.dump"},
	}
	for i, w := range want {
		for _, s := range w {
			if !strings.Contains(lines[i+1], s) {
				t.Errorf("row %d %q lacks %q", i+1, lines[i+1], s)
			}
		}
	}
	if _, errOut, code := run(t, "refresh", "history", "nope"); code != 1 || !strings.Contains(errOut, "nope not found") {
		t.Errorf("unknown name: exit %d, stderr %q", code, errOut)
	}
}
