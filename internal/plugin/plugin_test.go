package plugin_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/plugin"
	"github.com/understudy-dev/understudy/test/testenv"
)

var (
	env        *testenv.Env
	kubeconfig string
)

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, _ := os.MkdirTemp("", "plugin-test")
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the plugin in-process as `kubectl understudy args...` and returns
// what a user sees and the exit code main would give.
func run(t *testing.T, args ...string) (out, errOut string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := plugin.NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &o, ErrOut: &e})
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "-n", "default"}, args...))
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(&e, "error:", err)
		return o.String(), e.String(), 1
	}
	return o.String(), e.String(), 0
}

const revA, revB = "5c8d9f7b6", "7f4b8c2d9"

// newSite creates a SiteDeployment with the given status, as the
// controller would have written it.
func newSite(t *testing.T, name string, st v1.SiteDeploymentStatus) *v1.SiteDeployment {
	t.Helper()
	ctx := context.Background()
	site := &v1.SiteDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{"team": "web"}},
		Spec: v1.SiteDeploymentSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1.1"}}}},
			Service:  v1.ServiceSpec{Ports: []v1.ServicePort{{Port: 80}}},
		},
	}
	if err := env.Client.Create(ctx, site); err != nil {
		t.Fatal(err)
	}
	st.ObservedGeneration = site.Generation
	site.Status = st
	if err := env.Client.Status().Update(ctx, site); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, site) })
	return site
}

func reread(t *testing.T, site *v1.SiteDeployment) *v1.SiteDeployment {
	t.Helper()
	got := &v1.SiteDeployment{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(site), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// wantOnly asserts that the object changed by exactly the annotation
// key=value: no other annotation, no spec change.
func wantOnly(t *testing.T, before *v1.SiteDeployment, key, value string) {
	t.Helper()
	after := reread(t, before)
	want := map[string]string{"team": "web"}
	if key != "" {
		want[key] = value
	}
	if !reflect.DeepEqual(after.Annotations, want) {
		t.Errorf("annotations = %v, want %v", after.Annotations, want)
	}
	if !reflect.DeepEqual(after.Spec, before.Spec) || after.Generation != before.Generation {
		t.Errorf("spec changed: generation %d -> %d", before.Generation, after.Generation)
	}
}

func history(entries ...v1.RevisionRecord) []v1.RevisionRecord { return entries }

func promoted(rev string, outcome v1.RevisionOutcome) v1.RevisionRecord {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	return v1.RevisionRecord{Revision: rev, Outcome: outcome, PromotedAt: &now}
}

func awaiting() v1.SiteDeploymentStatus {
	return v1.SiteDeploymentStatus{Phase: v1.PhaseAwaitingPromotion, ActiveRevision: revA, PreviewRevision: revB,
		Message: "revision " + revB + " is ready on green", History: history(promoted(revA, v1.OutcomePromoted))}
}

func healthy() v1.SiteDeploymentStatus {
	return v1.SiteDeploymentStatus{Phase: v1.PhaseHealthy, ActiveRevision: revB, Message: "revision " + revB + " serves traffic",
		RollbackRevision: revA, History: history(promoted(revB, v1.OutcomePromoted), promoted(revA, v1.OutcomePromoted))}
}

func TestPromoteWritesTheCandidate(t *testing.T) {
	site := newSite(t, "promote-ok", awaiting())
	out, _, code := run(t, "promote", site.Name)
	if code != 0 || !strings.Contains(out, "promoting revision "+revB) {
		t.Fatalf("exit %d, out %q", code, out)
	}
	wantOnly(t, site, v1.AnnotationPromote, revB)
}

func TestPromoteRefuses(t *testing.T) {
	site := newSite(t, "promote-refused", awaiting())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"promote", site.Name, "--revision", revA}, "error: revision " + revA + " is not the candidate of sitedeployment promote-refused: the candidate is " + revB + "\n"},
		{[]string{"promote", "no-such-site"}, "error: sitedeployment no-such-site not found in namespace default\n"},
	} {
		_, errOut, code := run(t, tc.args...)
		if code != 1 || errOut != tc.want {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	wantOnly(t, site, "", "")

	steady := newSite(t, "promote-nothing", healthy())
	_, errOut, code := run(t, "promote", steady.Name)
	if code != 1 || errOut != "error: sitedeployment promote-nothing has no candidate awaiting promotion (phase Healthy)\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	wantOnly(t, steady, "", "")
}

func TestAbortWritesTheCandidate(t *testing.T) {
	site := newSite(t, "abort-ok", awaiting())
	if _, errOut, code := run(t, "abort", site.Name); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	wantOnly(t, site, v1.AnnotationAbort, revB)

	steady := newSite(t, "abort-nothing", healthy())
	_, errOut, code := run(t, "abort", steady.Name)
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "has no candidate to abort") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	wantOnly(t, steady, "", "")
}

func TestRollbackWritesTheActiveRevision(t *testing.T) {
	site := newSite(t, "rollback-ok", healthy())
	if _, errOut, code := run(t, "rollback", site.Name); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	wantOnly(t, site, v1.AnnotationAbort, revB)

	st := healthy()
	st.History = history(promoted(revB, v1.OutcomePromoted), promoted(revA, v1.OutcomeAborted))
	st.RollbackRevision = "" // what the controller publishes for that history
	aborted := newSite(t, "rollback-aborted", st)
	_, errOut, code := run(t, "rollback", aborted.Name)
	if code != 1 || errOut != "error: sitedeployment rollback-aborted has nothing to roll back to: no earlier revision in status.history was promoted and not aborted since\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	wantOnly(t, aborted, "", "")

	inFlight := newSite(t, "rollback-in-flight", awaiting())
	if _, _, code := run(t, "rollback", inFlight.Name); code != 1 {
		t.Errorf("rollback with a candidate in flight: exit %d", code)
	}
	wantOnly(t, inFlight, "", "")
}

func TestStatusExitCodes(t *testing.T) {
	ok := newSite(t, "status-healthy", healthy())
	if out, _, code := run(t, "status", ok.Name); code != 0 || out != "revision "+revB+" serves traffic\n" {
		t.Errorf("healthy: exit %d, out %q", code, out)
	}
	st := healthy()
	st.Phase, st.Message = v1.PhaseAborted, "revision "+revB+" aborted by the "+v1.AnnotationAbort+" annotation"
	bad := newSite(t, "status-aborted", st)
	if _, errOut, code := run(t, "status", bad.Name, "-w"); code != 1 || !strings.Contains(errOut, "failed: Aborted: revision "+revB+" aborted") {
		t.Errorf("aborted: exit %d, stderr %q", code, errOut)
	}
	slow := newSite(t, "status-waiting", awaiting())
	if _, errOut, code := run(t, "status", slow.Name, "-w", "--timeout", "2s"); code != 1 || !strings.Contains(errOut, "is not Healthy after 2s: AwaitingPromotion") {
		t.Errorf("timeout: exit %d, stderr %q", code, errOut)
	}
}

// status -w waits for the controller's next status and exits 0 once Healthy.
func TestStatusWatchEndsWhenHealthy(t *testing.T) {
	site := newSite(t, "status-watch", awaiting())
	done := make(chan int, 1)
	var out string
	go func() {
		o, _, code := run(t, "status", site.Name, "-w", "--timeout", "60s")
		out = o
		done <- code
	}()
	cur := reread(t, site)
	cur.Status = healthy()
	cur.Status.ObservedGeneration = cur.Generation
	if err := env.Client.Status().Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 || !strings.HasSuffix(out, "revision "+revB+" serves traffic\n") {
		t.Errorf("exit %d, out %q", code, out)
	}
}

func TestRefreshNowWritesAFreshToken(t *testing.T) {
	ctx := context.Background()
	dbr := newRefresh(t, "dev-nightly")
	var tokens []string
	for range 2 {
		if _, errOut, code := run(t, "refresh", "now", dbr.Name); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		got := &v1.DatabaseRefresh{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(dbr), got); err != nil {
			t.Fatal(err)
		}
		if len(got.Annotations) != 1 || got.Annotations[v1.AnnotationRefreshNow] == "" || got.Generation != dbr.Generation {
			t.Fatalf("annotations %v, generation %d", got.Annotations, got.Generation)
		}
		tokens = append(tokens, got.Annotations[v1.AnnotationRefreshNow])
	}
	if tokens[0] == tokens[1] {
		t.Errorf("two refresh-now requests wrote the same token %q", tokens[0])
	}
	if _, errOut, code := run(t, "refresh", "now", "nope"); code != 1 || errOut != "error: databaserefresh nope not found in namespace default\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	if out, _, code := run(t, "version"); code != 0 || !strings.HasPrefix(out, "kubectl-understudy ") {
		t.Errorf("version: exit %d, out %q", code, out)
	}
	if out, _, code := run(t, "completion", "bash"); code != 0 || !strings.Contains(out, "kubectl-understudy") {
		t.Errorf("completion: exit %d, %d bytes", code, len(out))
	}
}

func TestHistoryListsRevisions(t *testing.T) {
	st := healthy()
	st.History[0].Images = []string{"registry.example/web:1.1"}
	st.History[1].Images = []string{"registry.example/web:1.0"}
	st.History[0].Database, st.History[1].Database = "web_green", "web_blue"
	st.History[0].Digests = []v1.PinnedImage{{Container: "web", Image: "registry.example/web:1.1", Digest: "sha256:" + strings.Repeat("ab", 32)}}
	st.History[0].PromotionGate = v1.GateSkipped
	site := newSite(t, "history", st)
	out, _, code := run(t, "history", site.Name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d, out:\n%s", code, out)
	}
	if f := strings.Fields(lines[1]); len(f) < 7 || f[0] != revB || f[1] != "registry.example/web:1.1@sha256:abababababab" || f[4] != "Promoted" || f[5] != "web_green" || f[6] != "active" || f[7] != "Skipped" {
		t.Errorf("first row %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 7 || f[0] != revA || f[4] != "Promoted" || f[5] != "web_blue" || f[6] != "-" {
		t.Errorf("second row %q", lines[2])
	}
	wantOnly(t, site, "", "")
}

func TestRefreshStatusShowsDataAgeAndLastResult(t *testing.T) {
	ctx := context.Background()
	dbr := newRefresh(t, "dev-status")
	now := time.Now().Truncate(time.Second)
	taken, finished, next := metav1.NewTime(now.Add(-3*time.Hour)), metav1.NewTime(now.Add(-time.Hour)), metav1.NewTime(now.Add(2*time.Hour))
	dbr.Status = v1.DatabaseRefreshStatus{ObservedGeneration: dbr.Generation, DataTakenAt: &taken, NextScheduleTime: &next,
		LastRefresh: &v1.RefreshRecord{Job: "dev-status-1", FinishedAt: &finished, Result: v1.RefreshSucceeded},
		Actions: []v1.ActionStatus{{Annotation: v1.AnnotationRefreshNow, Value: "t2", Result: v1.ActionAccepted, Time: finished,
			Message: "merged into refresh-now Job dev-status-1, which is already running"}}}
	if err := env.Client.Status().Update(ctx, dbr); err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, "refresh", "status", dbr.Name)
	for _, want := range []string{"data taken:  3h0m", "last result: Succeeded by Job dev-status-1, finished 1h0m", "next run:    in ",
		"refresh now: t2: merged into refresh-now Job dev-status-1, which is already running\n"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	if !strings.Contains(out, "in 2h0m0s") && !strings.Contains(out, "in 1h59m59s") {
		t.Errorf("next run is not in two hours:\n%s", out)
	}
}

func newRefresh(t *testing.T, name string) *v1.DatabaseRefresh {
	t.Helper()
	ctx := context.Background()
	dbr := &v1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.DatabaseRefreshSpec{Schedule: "0 3 * * *",
			Source: v1.RefreshSource{Backup: &v1.BackupSource{Volume: &corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Target: v1.RefreshTarget{ConnectionSecretRef: v1.SecretReference{Name: "dev"}, Name: "dev"}},
	}
	if err := env.Client.Create(ctx, dbr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, dbr) })
	return dbr
}
