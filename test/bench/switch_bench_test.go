package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/poll"
	"github.com/understudy-dev/understudy/test/testenv"
)

// BenchmarkSwitch releases N SiteDeployments at once against a real API
// server and a manager process, with this process playing the Deployment
// controller, and prints switch latency (candidate fully available -> active
// selector flipped), API writes per release and per idle resync, and the
// manager's peak memory. The baseline is a raw selector flip written and
// observed by this process: the floor the API server imposes.
func BenchmarkSwitch(b *testing.B) {
	sizes := intsFromEnv(b, "BENCH_SITES", []int{100, 500})
	ctrllog.SetLogger(logr.Discard()) // envtest logs through controller-runtime; the figures are the output
	manager := buildManager(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("sites=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runSwitch(b, manager, n)
			}
		})
	}
}

// buildManager builds the manager, or takes BENCH_MANAGER_BIN (to compare
// two builds on one machine).
func buildManager(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("BENCH_MANAGER_BIN"); bin != "" {
		return bin
	}
	out := filepath.Join(b.TempDir(), "manager")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/manager")
	cmd.Dir = testenv.RepoRoot()
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("cannot build manager: %v\n%s", err, msg)
	}
	return out
}

func runSwitch(b *testing.B, managerBin string, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := testenv.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ns := "bench"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	kcm, err := startPlayer(ctx, env, ns)
	if err != nil {
		b.Fatal(err)
	}
	mgr, err := startManager(b, managerBin, env.KubeConfig)
	if err != nil {
		b.Fatal(err)
	}
	defer mgr.stop()

	baseline := rawFlips(b, ctx, env.Client, kcm.raw, ns, 50)

	start := time.Now()
	for i := 0; i < n; i++ {
		if err := env.Client.Create(ctx, siteFor(ns, i)); err != nil {
			b.Fatal(err)
		}
	}
	waitAll(b, ctx, env.Client, ns, n, "1")
	created := time.Since(start)

	w0, r0 := mgr.writes(b), mgr.reconciles(b)
	for i := 0; i < n; i++ { // touch every site: each is reconciled once more
		annotate(b, ctx, env.Client, ns, i)
	}
	waitFor(b, "a reconcile of every touched site", func() bool { return mgr.reconciles(b)-r0 >= int64(n) })
	w1 := mgr.writes(b)

	kcm.reset()
	start = time.Now()
	for i := 0; i < n; i++ {
		release(b, ctx, env.Client, ns, i)
	}
	waitAll(b, ctx, env.Client, ns, n, "2")
	released := time.Since(start)
	w2 := mgr.writes(b)
	lat := kcm.latencies()
	rss := mgr.peakRSS(b)

	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	fmt.Printf("\nswitch benchmark: %d SiteDeployments, 2 replicas each, k8s 1.37.2 envtest, %s\n", n, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("  raw selector flip (baseline, n=%d): p50 %v  p99 %v\n", len(baseline), percentile(baseline, 0.5), percentile(baseline, 0.99))
	fmt.Printf("  switch latency (n=%d):              p50 %v  p99 %v  max %v\n", len(lat), p50, p99, percentile(lat, 1))
	fmt.Printf("  ratio to baseline:                   p50 %.2fx  p99 %.2fx   (targets: p50 < 100ms, p99 < 1s)\n",
		ratio(p50, percentile(baseline, 0.5)), ratio(p99, percentile(baseline, 0.99)))
	fmt.Printf("  API writes per release: %.2f   per idle resync: %.2f (target 0)\n", float64(w2-w1)/float64(n), float64(w1-w0)/float64(n))
	fmt.Printf("  manager peak RSS: %.1f MB (%.1f KB per SiteDeployment)   create->healthy %v, release->healthy %v\n",
		float64(rss)/1024, float64(rss)/float64(n), created.Round(time.Millisecond), released.Round(time.Millisecond))
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(w2-w1)/float64(n), "writes/release")
	b.ReportMetric(float64(w1-w0)/float64(n), "writes/resync")
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MB")
}

// imagePrefix is the registry the benchmark's images are named in ("":
// none; see podDigests).
var imagePrefix string

func siteFor(ns string, i int) *v1.SiteDeployment {
	return &v1.SiteDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("site-%d", i), Namespace: ns},
		Spec: v1.SiteDeploymentSpec{
			Replicas: ptr.To[int32](2),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "site"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: imagePrefix + "site:1"}}},
			},
			Service: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80}}},
		},
	}
}

// waitAll waits until every site is Healthy on the image tag.
func waitAll(b *testing.B, ctx context.Context, c client.Client, ns string, n int, tag string) {
	b.Helper()
	// Every second: listing thousands of sites is work for the API server
	// the benchmark should not add ten times a second.
	waitForEvery(b, "every site Healthy on site:"+tag, time.Second, 5*time.Minute+time.Duration(n)*500*time.Millisecond, func() bool {
		list := &v1.SiteDeploymentList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			b.Logf("listing the sites (retried): %v", err) // an overloaded API server drops a request now and then
			return false
		}
		done := 0
		for _, s := range list.Items {
			if s.Status.Phase == v1.PhaseHealthy && s.Status.ActiveRevision == s.Status.CurrentRevision &&
				s.Status.ObservedGeneration == s.Generation && s.Spec.Template.Spec.Containers[0].Image == imagePrefix+"site:"+tag {
				done++
			}
		}
		return done == n
	})
}

// waitFor polls cond until it holds, for at most five minutes.
func waitFor(b *testing.B, what string, cond func() bool) {
	b.Helper()
	waitForWithin(b, what, 5*time.Minute, cond)
}

func waitForWithin(b *testing.B, what string, timeout time.Duration, cond func() bool) {
	b.Helper()
	waitForEvery(b, what, 100*time.Millisecond, timeout, cond)
}

func waitForEvery(b *testing.B, what string, every, timeout time.Duration, cond func() bool) {
	b.Helper()
	poll.True(b, what, every, timeout, cond)
}

// annotate touches a site with a merge patch, as kubectl annotate does.
func annotate(b *testing.B, ctx context.Context, c client.Client, ns string, i int) {
	b.Helper()
	s := &v1.SiteDeployment{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("site-%d", i), Namespace: ns}}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"bench.understudy.dev/touched":"1"}}}`))
	if err := c.Patch(ctx, s, patch); err != nil {
		b.Error(err) // may run on another goroutine (forEachSite)
	}
}

func release(b *testing.B, ctx context.Context, c client.Client, ns string, i int) {
	mutate(b, ctx, c, ns, i, func(s *v1.SiteDeployment) { s.Spec.Template.Spec.Containers[0].Image = imagePrefix + "site:2" })
}

func mutate(b *testing.B, ctx context.Context, c client.Client, ns string, i int, f func(*v1.SiteDeployment)) {
	b.Helper()
	for try := 0; ; try++ {
		s := &v1.SiteDeployment{}
		if err := c.Get(ctx, keyOf(ns, fmt.Sprintf("site-%d", i)), s); err != nil {
			b.Error(err) // may run on another goroutine (forEachSite)
			return
		}
		f(s)
		err := c.Update(ctx, s)
		if err == nil {
			return
		}
		if try > 20 {
			b.Error(err)
			return
		}
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
