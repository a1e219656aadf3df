package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/localcluster"
	"github.com/understudy-dev/understudy/test/regtest"
)

// BenchmarkSwitchCluster releases N SiteDeployments of 2 replicas at once on
// the local cluster: real etcd, kube-apiserver, kube-controller-manager
// (Deployments, ReplicaSets, pods) and scheduler, with kwok nodes playing
// the kubelet, and the manager as its own process. A watcher of Pods and
// Services times each switch from the last pod of the new revision turning
// Ready to the active selector flip, and checks at every flip that the
// selected revision had all its pods Ready (etcd order, not arrival order).
// Baseline: selector flips written and observed by the same watcher.
//
// `make bench-cluster`; BENCH_CLUSTER_SITES (default 100; 100,300,1000,3000),
// BENCH_KCM_QPS (kube-controller-manager's and the scheduler's client QPS,
// burst twice that; default 1000), BENCH_KCM_SYNCS (its Deployment and
// ReplicaSet workers; default 50: with its own 5, at N = 1000 on two cores
// the switch measures kcm's status writes, not the operator; 0 keeps 5),
// BENCH_MANAGER_ARGS, BENCH_POD_DIGESTS: what the pods report, as real
// kubelets do ("" none, as kwok by default; "pods": an imageID digest for
// every container, the tags unknown to any registry, so the manager pins
// from the pods; "registry": the same, with the images pushed to a
// registry on loopback, so the manager resolves the tags before the
// candidate's first pod).
func BenchmarkSwitchCluster(b *testing.B) {
	sizes := intsFromEnv(b, "BENCH_CLUSTER_SITES", []int{100})
	qps := intsFromEnv(b, "BENCH_KCM_QPS", []int{1000})[0]
	syncs := intsFromEnv(b, "BENCH_KCM_SYNCS", []int{50})[0]
	manager := buildManager(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("sites=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runClusterSwitch(b, manager, n, qps, syncs)
			}
		})
	}
}

func runClusterSwitch(b *testing.B, managerBin string, n, qps, syncs int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: filepath.Join(b.TempDir(), "cluster"),
		ClientQPS: float32(qps), ClientBurst: 2 * qps, ControllerSyncs: syncs, Timeout: 3 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	digests := podDigests(b)
	if err := c.StartKwokWith(ctx, max(1, n/500), localcluster.KwokOptions{ImageIDs: digests != ""}); err != nil {
		b.Fatal(err)
	}
	cl := clusterClient(b, c)
	installCRDs(b, ctx, cl)
	ns := "bench"
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	w, err := startPodWatch(ctx, c.RESTConfig(), ns, 2)
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	mgr, err := startManager(b, managerBin, kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	defer mgr.stop()
	baseline := rawFlips(b, ctx, cl, w.raw, ns, 50)

	start := time.Now()
	createAll(b, ctx, cl, ns, n)
	waitAll(b, ctx, cl, ns, n, "1")
	created := time.Since(start)

	// The events of the creation are still being sent for a while after
	// the last site is Healthy: they are not the idle resync's.
	mgr.quiesce(b)
	w0, r0 := mgr.writes(b), mgr.reconciles(b)
	// Touch every site: each is reconciled once more.
	forEachSite(b, n, func(i int) { annotate(b, ctx, cl, ns, i) })
	waitFor(b, "a reconcile of every touched site", func() bool { return mgr.reconciles(b)-r0 >= int64(n) })
	w1, req1, cpu1 := mgr.writes(b), mgr.requests(b), mgr.cpuSeconds(b)

	tag := fmt.Sprintf("sites-%d", n)
	mgr.profile(b, tag+".steady", "heap")
	w.reset()
	snap1, depth := mgr.snapshot(b), sampleDepth(mgr)
	cpuProfile := mgr.profileAsync(b, tag+".release", profileSeconds(b))
	stopPeak := mgr.profileAtPeak(b, tag+".peak")
	probe := flipsUnderLoad(b, ctx, cl, w.raw, ns, 100*time.Millisecond)
	start = time.Now()
	forEachSite(b, n, func(i int) { release(b, ctx, cl, ns, i) })
	waitAll(b, ctx, cl, ns, n, "2")
	released := time.Since(start)
	loaded, loadedWrites := probe()
	w2, req2, cpu2 := mgr.writes(b), mgr.requests(b), mgr.cpuSeconds(b)
	snap2, maxDepth := mgr.snapshot(b), depth.stop()
	// Before the heap profile: writing one allocates in the manager too.
	rss := mgr.peakRSS(b)
	stopPeak()
	cpuProfile()
	mgr.profile(b, tag+".released", "heap")
	lat, unsafe := w.results()
	if notLive := w.notLive(b, ctx, cl, ns, n); len(notLive) > 0 {
		b.Errorf("%d sites Healthy on site:2 whose active Service does not select all Ready pods of the new revision, e.g. %s", len(notLive), notLive[0])
	}
	if len(unsafe) > 0 {
		b.Errorf("%d switches to a revision without all its pods Ready, e.g. %s", len(unsafe), unsafe[0])
	}
	if len(lat) < n {
		b.Errorf("%d switches seen for %d releases", len(lat), n)
	}

	fmt.Printf("\ncluster switch benchmark: %d SiteDeployments, 2 replicas each, k8s 1.37.2 local cluster, %d kwok node(s), %s\n",
		n, max(1, n/500), time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("  pods report image digests: %s\n", describeDigests(digests))
	fmt.Printf("  kube-controller-manager and kube-scheduler client limits: --kube-api-qps %d --kube-api-burst %d\n", qps, 2*qps)
	if syncs > 0 {
		fmt.Printf("  kube-controller-manager workers: --concurrent-deployment-syncs %d --concurrent-replicaset-syncs %d\n", syncs, syncs)
	} else {
		fmt.Printf("  kube-controller-manager workers: its defaults (5 Deployment, 5 ReplicaSet)\n")
	}
	fmt.Printf("  raw selector flip (baseline, n=%d): p50 %v  p99 %v\n", len(baseline), percentile(baseline, 0.5), percentile(baseline, 0.99))
	fmt.Printf("  raw selector flip during the release (the floor for any controller's switch, n=%d): p50 %v  p90 %v  p99 %v\n",
		len(loaded), percentile(loaded, 0.5), percentile(loaded, 0.9), percentile(loaded, 0.99))
	fmt.Printf("    of which the API server answering the write: p50 %v  p90 %v  p99 %v\n",
		percentile(loadedWrites, 0.5), percentile(loadedWrites, 0.9), percentile(loadedWrites, 0.99))
	fmt.Printf("  switch latency (last new pod Ready -> selector flip, n=%d): p50 %v  p90 %v  p99 %v  max %v (target p99 < 100ms at 1000)\n",
		len(lat), percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99), percentile(lat, 1))
	w.mu.Lock()
	fmt.Printf("  flips before kube-controller-manager reported the Deployment available: %d of %d (%d seen by this watcher before its last pod Ready, counted as 0)\n",
		w.beforeAvail, len(lat), w.seenFirst)
	fmt.Printf("  of the others, last pod Ready -> Deployment available (kube-controller-manager, n=%d): p50 %v  p99 %v\n",
		len(w.toAvail), percentile(w.toAvail, 0.5), percentile(w.toAvail, 0.99))
	fmt.Printf("  and Deployment available -> selector flip (the manager): p50 %v  p90 %v  p99 %v  max %v\n",
		percentile(w.afterAvail, 0.5), percentile(w.afterAvail, 0.9), percentile(w.afterAvail, 0.99), percentile(w.afterAvail, 1))
	w.mu.Unlock()
	fmt.Printf("  ratio to baseline: p50 %.2fx  p99 %.2fx\n",
		ratio(percentile(lat, 0.5), percentile(baseline, 0.5)), ratio(percentile(lat, 0.99), percentile(baseline, 0.99)))
	fmt.Printf("  manager API requests per release: %.1f (writes %.1f)   writes per idle resync: %.2f (target 0)\n",
		float64(req2-req1)/float64(n), float64(w2-w1)/float64(n), float64(w1-w0)/float64(n))
	fmt.Printf("  manager peak RSS %.1f MiB (VmHWM; %.1f KiB per site; target < 150 MB at 3000), CPU %.1f s for the release\n",
		float64(rss)/1024, float64(rss)/float64(n), cpu2-cpu1)
	printWaits(snap1, snap2, maxDepth)
	fmt.Printf("  create->healthy %v, release->healthy %v\n", created.Round(time.Millisecond), released.Round(time.Millisecond))
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MB")
}

func intsFromEnv(b *testing.B, name string, def []int) []int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		out = append(out, v)
	}
	return out
}

func clusterClient(b *testing.B, c *localcluster.Cluster) client.Client {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	if err := v1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	cfg := c.RESTConfig()
	cfg.QPS, cfg.Burst = 2000, 4000
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// createAll creates the N sites (see forEachSite).
func createAll(b *testing.B, ctx context.Context, c client.Client, ns string, n int) {
	forEachSite(b, n, func(i int) {
		if err := c.Create(ctx, siteFor(ns, i)); err != nil {
			b.Error(err)
		}
	})
}

// forEachSite runs f for sites 0..n-1, 16 at a time: N sites are released
// within seconds, not one API round trip after another. f reports
// failures with b.Error (not Fatal: it runs on other goroutines).
func forEachSite(b *testing.B, n int, f func(i int)) {
	b.Helper()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// podDigests reads BENCH_POD_DIGESTS; with "registry" it serves the
// benchmark's images from a registry on loopback (imagePrefix).
func podDigests(b *testing.B) string {
	mode := os.Getenv("BENCH_POD_DIGESTS")
	switch mode {
	case "", "pods":
	case "registry":
		reg := regtest.Start(b, "", "")
		imagePrefix = reg.Host + "/"
		for _, tag := range []string{"1", "2"} {
			reg.Push(b, "site", tag)
		}
	default:
		b.Fatalf("BENCH_POD_DIGESTS=%q: want empty, pods or registry", mode)
	}
	b.Cleanup(func() { imagePrefix = "" })
	return mode
}

func describeDigests(mode string) string {
	switch mode {
	case "pods":
		return "yes; the tags are in no registry (the manager pins from the pods)"
	case "registry":
		return "yes; the tags are resolved at a registry on loopback before the candidate's first pod"
	}
	return "no (kwok's default)"
}
