//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// A Deployment of demo-site becomes Available on real processes, and its
// Service answers with the version both through its EndpointSlices (to the
// pods' loopback addresses) and through the node agent's Service proxy, from
// the test and from inside a pod by the Service's cluster name.
func TestDeploymentServesThroughService(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	labels := map[string]string{"app": "demo"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "site", Image: "local/demo-site",
					Env:   []corev1.EnvVar{{Name: "VERSION", Value: "v1"}},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
				}}},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	start := time.Now()
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, "deployment available", func() (bool, error) {
		d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "demo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 2 {
				return true, nil
			}
		}
		return false, fmt.Errorf("available %d/2", d.Status.AvailableReplicas)
	})
	t.Logf("deployment 2/2 available in %s", time.Since(start).Round(time.Millisecond))

	var addrs []string
	Eventually(t, 30*time.Second, "two ready endpoints", func() (bool, error) {
		var err error
		addrs, err = env.ServiceEndpoints(ctx, ns, "demo", "http")
		return len(addrs) == 2, err
	})
	for _, a := range addrs {
		if got := getVersion(t, "http://"+a+"/"); got != "v1" {
			t.Fatalf("endpoint %s answered version %q, want v1", a, got)
		}
	}
	proxy, err := env.ServiceProxyAddress(ns, "demo", 80)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if got := getVersion(t, "http://"+proxy+"/"); got != "v1" {
			t.Fatalf("service proxy %s answered version %q, want v1", proxy, got)
		}
	}
	t.Logf("endpoints %v and service proxy %s answer 200 v1", addrs, proxy)

	// Inside a pod, the cluster name resolves through the generated /etc/hosts.
	job := shellJob("by-name", ns, fmt.Sprintf(`curl -fsS http://demo/ && curl -fsS http://demo.%s.svc.cluster.local/`, ns))
	if _, err := env.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, ns, "by-name", batchv1.JobComplete)
}

// A Job whose container exits 1 fails, with the exit code in the pod status.
func TestJobFailureRecordsExitCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	if _, err := env.Client.BatchV1().Jobs(ns).Create(ctx, shellJob("fails", ns, "exit 1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, ns, "fails", batchv1.JobFailed)
	st := jobContainerState(t, ns, "fails")
	if st.Terminated == nil || st.Terminated.ExitCode != 1 {
		t.Fatalf("container state %+v, want terminated with exit code 1", st)
	}
}

// A Job's termination message reaches the pod status.
func TestJobTerminationMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	job := shellJob("says", ns, `printf 'restored 42 rows' > /dev/termination-log`)
	if _, err := env.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, ns, "says", batchv1.JobComplete)
	st := jobContainerState(t, ns, "says")
	if st.Terminated == nil || st.Terminated.ExitCode != 0 || st.Terminated.Message != "restored 42 rows" {
		t.Fatalf("container state %+v, want exit 0 with message %q", st, "restored 42 rows")
	}
}

// A CronJob fires on its own schedule and its Job completes.
func TestCronJobFires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	job := shellJob("", ns, "echo tick")
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: ns},
		Spec:       batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: job.Spec}},
	}
	start := time.Now()
	if _, err := env.Client.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 80*time.Second, "a completed job of the cronjob", func() (bool, error) {
		jobs, err := env.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, j := range jobs.Items {
			if len(j.OwnerReferences) > 0 && j.OwnerReferences[0].Name == "tick" && jobHas(&j, batchv1.JobComplete) {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d jobs, none complete", len(jobs.Items))
	})
	t.Logf("cronjob fired and its job completed %s after creation", time.Since(start).Round(time.Second))
}

func shellJob(name, ns, script string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"sh", "-c", script}}},
			}},
		},
	}
}

func jobHas(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func waitJob(t *testing.T, ns, name string, want batchv1.JobConditionType) {
	t.Helper()
	Eventually(t, 60*time.Second, fmt.Sprintf("job %s %s", name, want), func() (bool, error) {
		j, err := env.Client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return jobHas(j, want), fmt.Errorf("conditions %v", j.Status.Conditions)
	})
}

func jobContainerState(t *testing.T, ns, job string) corev1.ContainerState {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil || len(pods.Items) != 1 || len(pods.Items[0].Status.ContainerStatuses) != 1 {
		t.Fatalf("want one pod with one container status for job %s: %v %+v", job, err, pods)
	}
	return pods.Items[0].Status.ContainerStatuses[0].State
}

func getVersion(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return v.Version
}
