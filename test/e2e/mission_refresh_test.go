//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The dev database refresh on its own schedule: the CronJob fires, its pod
// runs refresh-runner against PostgreSQL, the dev site then shows
// production's sanitised rows from restarted pods, and the status says how
// old dev's data is. Then one refresh-now.
func testScheduledRefresh(t *testing.T) {
	t.Parallel()
	if strings.HasPrefix(env.Cluster.Dir, "/tmp/") {
		// The runner pod has an emptyDir at /tmp, and the node agent mounts
		// it over the host's /tmp in the pod: its other volumes' sources
		// (and a hostPath backup dir) under /tmp would vanish.
		t.Fatalf("the cluster's state dir %s is under /tmp: run with TMPDIR=/var/tmp (make test-e2e does)", env.Cluster.Dir)
	}
	ctx := context.Background()
	ns := env.Namespace(t)
	c := crClient(t)
	pg, backups := startPostgres(t)
	adminSecret(t, ns, "service0-dev-admin", pg)

	site := demoSite(ns, "service0-dev", "dev", 1)
	site.Spec.Template.Spec.Containers[0].Env = append(site.Spec.Template.Spec.Containers[0].Env,
		secretEnv("DATABASE_HOST", "host"), secretEnv("DATABASE_PORT", "port"),
		secretEnv("DATABASE_USER", "username"), secretEnv("DATABASE_PASSWORD", "password"),
		corev1.EnvVar{Name: "DATABASE_NAME", Value: "service0_dev"},
		corev1.EnvVar{Name: "DATABASE_TABLE", Value: "users"})
	if err := c.Create(ctx, site); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c, ns, "service0-dev", 90*time.Second)
	if n := devRows(t, ns); n != 3 {
		t.Fatalf("dev site shows %d rows before any refresh, want 3", n)
	}
	before := sitePods(t, ns, "service0-dev")

	dr := &deployv1alpha1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: "service0-dev-nightly", Namespace: ns},
		Spec: deployv1alpha1.DatabaseRefreshSpec{
			Schedule: "* * * * *",
			Source: deployv1alpha1.RefreshSource{Backup: &deployv1alpha1.BackupSource{
				Volume:  &corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: backups}},
				Pattern: "*.dump",
			}},
			Target: deployv1alpha1.RefreshTarget{
				ConnectionSecretRef: deployv1alpha1.SecretReference{Name: "service0-dev-admin"},
				Name:                "service0_dev",
			},
			Sanitize: []deployv1alpha1.SanitizeStep{
				{SQL: "UPDATE users SET email = 'dev+' || id || '@example.invalid'"},
				{SQL: "DELETE FROM users WHERE id % 10 = 0"},
			},
			KeepPrevious:      ptr.To[int32](1),
			SiteDeploymentRef: &deployv1alpha1.LocalObjectReference{Name: "service0-dev"},
		},
	}
	start := time.Now()
	if err := c.Create(ctx, dr); err != nil {
		t.Fatal(err)
	}
	sanitised := int64(prodRows - prodRows/10)

	// The CronJob fires on its own (no refresh-now) within about a minute.
	var job *batchv1.Job
	Eventually(t, 150*time.Second, "a completed Job of the CronJob", func() (bool, error) {
		job = cronJobDone(t, ns)
		return job != nil, fmt.Errorf("none complete yet")
	})
	t.Logf("CronJob's Job %s complete %s after the DatabaseRefresh was created", job.Name, time.Since(start).Round(time.Second))
	checkRunnerPod(t, ns, job.Name)

	got := waitRefreshed(t, c, ns, dr.Name, job.Name)
	t.Logf("status: dataTakenAt %s, lastRefresh %+v", got.Status.DataTakenAt, *got.Status.LastRefresh)
	expectMetrics(t, ns, dr.Name,
		metricWant{"understudy_databaserefresh_refreshes_total", map[string]string{"result": "Succeeded"}, 1},
		metricWant{"understudy_databaserefresh_duration_seconds", map[string]string{"result": "Succeeded"}, 1},
		metricWant{"understudy_databaserefresh_data_taken_timestamp_seconds", nil, float64(got.Status.DataTakenAt.Unix())},
		metricWant{"understudy_databaserefresh_last_success_timestamp_seconds", nil, float64(got.Status.LastSuccessfulTime.Unix())})
	if n := queryInt(t, pg, "service0_dev", "SELECT count(*) FROM users WHERE email NOT LIKE '%@example.invalid'"); n != 0 {
		t.Fatalf("%d e-mails left unscrubbed in dev", n)
	}
	waitRestarted(t, ns, "service0-dev", before)
	Eventually(t, 60*time.Second, "dev site showing the sanitised rows", func() (bool, error) {
		n, err := devRowsErr(ns)
		return err == nil && n == sanitised, fmt.Errorf("rows %d, want %d: %v", n, sanitised, err)
	})
	t.Logf("dev site shows %d rows (production %d, sanitised) %s after creation", sanitised, prodRows, time.Since(start).Round(time.Second))

	// The schedule has shown it fires on its own; suspend it so that a run at
	// the next minute cannot restart the dev site while the columns and
	// kstatus are read below. refresh-now still works while suspended.
	env.Kubectl(t, "-n", ns, "patch", "dbr", dr.Name, "--type=merge", "-p", `{"spec":{"suspend":true}}`)
	settled := sitePods(t, ns, "service0-dev")
	refreshNow(t, c, ns, dr.Name)
	// The refresh restarts the dev site's pods: it reads Progressing until
	// the restarted pods are all available, then Healthy (kstatus Current).
	// Wait for that restart first: before it starts, the site still reads
	// Current from before the refresh.
	waitRestarted(t, ns, "service0-dev", settled)
	Eventually(t, 60*time.Second, "both kinds settled after the refresh", func() (bool, error) {
		sd := kstatusOf(t, c, "SiteDeployment", ns, "service0-dev")
		rf := kstatusOf(t, c, "DatabaseRefresh", ns, dr.Name)
		return sd == status.CurrentStatus && rf == status.CurrentStatus, fmt.Errorf("kstatus %s and %s", sd, rf)
	})

	out := env.Kubectl(t, "-n", ns, "get", "sdep,dbr")
	t.Logf("kubectl get sdep,dbr:\n%s", out)
	for _, w := range []string{"SCHEDULE", "LAST-SUCCESS", "DATA-TAKEN", "* * * * *", "Healthy", "1/1"} {
		if !strings.Contains(out, w) {
			t.Errorf("kubectl get sdep,dbr lacks %q", w)
		}
	}
	dbrLine := lineWith(out, "databaserefresh")
	if f := strings.Fields(dbrLine); strings.Contains(dbrLine, "<none>") || len(f) < 2 || f[len(f)-2] != "True" {
		t.Errorf("kubectl get dbr line %q: want LAST-SUCCESS and DATA-TAKEN set and READY True", dbrLine)
	}
	for kind, name := range map[string]string{"SiteDeployment": "service0-dev", "DatabaseRefresh": dr.Name} {
		if s := kstatusOf(t, c, kind, ns, name); s != status.CurrentStatus {
			t.Errorf("kstatus of %s %s is %s, want Current", kind, name, s)
		}
	}
}

func secretEnv(name, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "service0-dev-admin"}, Key: key}}}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// cronJobDone returns a completed Job owned by a CronJob in ns, or nil.
func cronJobDone(t *testing.T, ns string) *batchv1.Job {
	t.Helper()
	jobs, err := env.Client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs.Items {
		if len(j.OwnerReferences) > 0 && j.OwnerReferences[0].Kind == "CronJob" && jobHas(&j, batchv1.JobComplete) {
			return &jobs.Items[i]
		}
	}
	return nil
}

// checkRunnerPod asserts that the Job's pod ran refresh-runner (local
// image) to a zero exit with its JSON result as termination message.
func checkRunnerPod(t *testing.T, ns, job string) {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("no pod for job %s: %v", job, err)
	}
	p := pods.Items[0]
	if img := p.Spec.Containers[0].Image; img != "local/refresh-runner" {
		t.Errorf("runner pod image %q, want local/refresh-runner", img)
	}
	st := p.Status.ContainerStatuses[0].State.Terminated
	if st == nil || st.ExitCode != 0 || !strings.HasPrefix(strings.TrimSpace(st.Message), "{") {
		t.Fatalf("runner container state %+v, want exit 0 with a JSON result", p.Status.ContainerStatuses[0].State)
	}
	t.Logf("runner pod %s: %s", p.Name, strings.TrimSpace(st.Message))
}

// waitRefreshed waits until the DatabaseRefresh reports job's successful
// refresh with dataTakenAt.
func waitRefreshed(t *testing.T, c client.Client, ns, name, job string) *deployv1alpha1.DatabaseRefresh {
	t.Helper()
	dr := &deployv1alpha1.DatabaseRefresh{}
	Eventually(t, 30*time.Second, "lastRefresh of "+job+" Succeeded", func() (bool, error) {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, dr); err != nil {
			return false, err
		}
		lr := dr.Status.LastRefresh
		ok := lr != nil && lr.Job == job && lr.Result == "Succeeded" && dr.Status.DataTakenAt != nil && dr.Status.LastSuccessfulTime != nil
		return ok, fmt.Errorf("status %+v", dr.Status)
	})
	return dr
}

// sitePods returns the UIDs of a site's pods.
func sitePods(t *testing.T, ns, site string) map[types.UID]string {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: "deploy.understudy.dev/site=" + site})
	if err != nil {
		t.Fatal(err)
	}
	out := map[types.UID]string{}
	for _, p := range pods.Items {
		out[p.UID] = p.Name
	}
	return out
}

// waitRestarted waits until every pod of the site is new, ready and carries
// the restarted-at annotation on its template.
func waitRestarted(t *testing.T, ns, site string, before map[types.UID]string) {
	t.Helper()
	Eventually(t, 60*time.Second, "restarted pods of "+site, func() (bool, error) {
		pods, err := env.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
			LabelSelector: "deploy.understudy.dev/site=" + site})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range pods.Items {
			if _, old := before[p.UID]; old {
				return false, fmt.Errorf("old pod %s still there", p.Name)
			}
			if p.Annotations[deployv1alpha1.AnnotationRestartedAt] == "" {
				return false, fmt.Errorf("pod %s has no %s annotation", p.Name, deployv1alpha1.AnnotationRestartedAt)
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return len(pods.Items) == 1 && ready == 1, fmt.Errorf("%d pods, %d ready", len(pods.Items), ready)
	})
}

func devRows(t *testing.T, ns string) int64 {
	t.Helper()
	n, err := devRowsErr(ns)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// devRowsErr asks the dev site (through its Service's endpoints) how many
// rows its database has.
func devRowsErr(ns string) (int64, error) {
	addrs, err := env.ServiceEndpoints(context.Background(), ns, "service0-dev", "http")
	if err != nil || len(addrs) == 0 {
		return 0, fmt.Errorf("no endpoint: %v", err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addrs[0] + "/")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v struct{ Rows *int64 }
	if err := json.Unmarshal(body, &v); err != nil || v.Rows == nil {
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return *v.Rows, nil
}

// refreshNow starts one refresh with the annotation, away from the minute
// boundary so that it does not overlap the CronJob's next run, and waits
// for its Job to succeed.
func refreshNow(t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	for s := time.Now().Second(); s < 12 || s > 35; s = time.Now().Second() {
		time.Sleep(500 * time.Millisecond)
	}
	token := strconv.FormatInt(time.Now().Unix(), 10)
	env.Kubectl(t, "-n", ns, "annotate", "dbr", name, deployv1alpha1.AnnotationRefreshNow+"="+token, "--overwrite")
	Eventually(t, 60*time.Second, "refresh-now "+token+" Succeeded", func() (bool, error) {
		dr := &deployv1alpha1.DatabaseRefresh{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, dr); err != nil {
			return false, err
		}
		jobs, err := env.Client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, j := range jobs.Items {
			if j.Annotations[deployv1alpha1.AnnotationRefreshNow] == token && jobHas(&j, batchv1.JobComplete) {
				lr := dr.Status.LastRefresh
				return dr.Status.LastRefreshNowToken == token && lr != nil && lr.Job == j.Name && lr.Result == "Succeeded",
					fmt.Errorf("job %s complete, status %+v", j.Name, dr.Status)
			}
		}
		return false, fmt.Errorf("no complete job for token %s; status token %q", token, dr.Status.LastRefreshNowToken)
	})
	t.Logf("refresh-now %s succeeded", token)
}
