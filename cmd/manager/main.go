// Command manager runs the understudy operator: the SiteDeployment and
// DatabaseRefresh controllers, with health, readiness and metrics endpoints.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/controllers"
)

func main() {
	var (
		metricsAddr, probeAddr, pprofAddr, namespaces, runnerImage string
		leaderElectionNamespace, leaderElectionID                  string
		leaderElect                                                bool
		qps                                                        float64
		burst, workers, gcPercent                                  int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the metrics endpoint; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Loopback address (127.0.0.1:port) of the Go profiler's /debug/pprof endpoints; empty disables them.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica acts.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease; empty means the pod's namespace (POD_NAMESPACE, else the service account's), required outside a cluster.")
	flag.StringVar(&leaderElectionID, "leader-election-id", "", "Name of the leader election Lease; empty derives it from --namespaces, so that shards on disjoint namespaces lead apart.")
	flag.StringVar(&namespaces, "namespaces", "", "Comma-separated namespaces to watch (a shard); empty watches all.")
	flag.StringVar(&runnerImage, "refresh-runner-image", "understudy/refresh-runner:dev", "Image of the refresh runner that DatabaseRefresh CronJobs run.")
	flag.Float64Var(&qps, "kube-api-qps", 200, "Client-side rate limit towards the API server (queries per second).")
	flag.IntVar(&burst, "kube-api-burst", 400, "Client-side burst towards the API server.")
	flag.IntVar(&workers, "workers", 32, "Objects of each kind reconciled in parallel.")
	flag.IntVar(&gcPercent, "gc-percent", defaultGCPercent, "Heap growth in percent that triggers a garbage collection (as GOGC, which wins when set): lower trades CPU for memory.")
	opts := zap.Options{Development: false, Level: zapcore.InfoLevel}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setGCPercent(gcPercent)

	if err := run(ctrl.SetupSignalHandler(), options{
		metricsAddr: metricsAddr, probeAddr: probeAddr, pprofAddr: pprofAddr, leaderElect: leaderElect, leaderElectionNamespace: leaderElectionNamespace,
		leaderElectionID: leaderElectionID, namespaces: namespaces, runnerImage: runnerImage, qps: float32(qps), burst: burst, workers: workers,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

type options struct {
	metricsAddr, probeAddr, pprofAddr, namespaces, runnerImage string
	leaderElectionNamespace, leaderElectionID                  string
	leaderElect                                                bool
	qps                                                        float32
	burst, workers                                             int
}

func run(ctx context.Context, o options) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(deployv1alpha1.AddToScheme(scheme))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("cannot load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = o.qps, o.burst
	if err := loopbackOnly(o.pprofAddr); err != nil {
		return fmt.Errorf("--pprof-bind-address: %w", err)
	}
	// Time spent waiting for the client-side rate limit, in
	// rest_client_rate_limiter_duration_seconds: throttling shows there.
	ctrlmetrics.RegisterRESTClientMetrics(ctrlmetrics.MetricRateLimiterLatency)

	shard := watchedNamespaces(o.namespaces)
	cacheOpts, err := controllers.CacheOptions(shard)
	if err != nil {
		return err
	}
	leaseID := o.leaderElectionID
	if leaseID == "" {
		leaseID = leaseName(shard)
	}
	if err := controllers.WaitForKinds(ctx, cfg, controllers.KindsTimeout); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		PprofBindAddress:       o.pprofAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       leaseID,
		// The Lease names the namespace it lives in: a manager outside a
		// cluster has no service account file to default it from.
		LeaderElectionNamespace: leaderNamespace(o.leaderElectionNamespace),
		// Shutdown releases the Lease, so a rolling update's new pod leads
		// at once instead of after the lease duration. Safe: mgr.Start
		// returns only after every reconcile has finished.
		LeaderElectionReleaseOnCancel: true,
		// controller-runtime's lease timings, with a standby that asks every
		// half second (client-go adds up to 120% jitter: 0.5-1.1 s) instead
		// of every two: a released Lease is taken over within about a
		// second, a dead leader's within LeaseDuration. The cost is the
		// leader renewing its one Lease twice a second.
		LeaseDuration: ptr.To(15 * time.Second),
		RenewDeadline: ptr.To(10 * time.Second),
		RetryPeriod:   ptr.To(500 * time.Millisecond),
	})
	if err != nil {
		return fmt.Errorf("cannot create manager: %w", err)
	}
	if err := controllers.Setup(mgr, controllers.Options{RunnerImage: o.runnerImage, Workers: o.workers, Namespaces: shard}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("cannot add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("cannot add readiness check: %w", err)
	}
	ctrl.Log.Info("starting manager", "namespaces", strings.Join(shard, ","), "leaderElectionID", leaseID, "refreshRunnerImage", o.runnerImage)
	return mgr.Start(ctx)
}

// serviceAccountNamespace is where a pod finds its own namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// leaderNamespace is the Lease's namespace: the flag, else POD_NAMESPACE
// (the chart sets it from the downward API), else the service account's
// namespace file; empty lets controller-runtime report that none is known.
func leaderNamespace(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}
