package controllers

import (
	"fmt"
	"sync"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/understudy-dev/understudy/internal/metrics"
	"github.com/understudy-dev/understudy/internal/registry"
)

// Options configure both controllers.
type Options struct {
	// RunnerImage is the image DatabaseRefresh CronJobs run.
	RunnerImage string
	// Workers is how many objects of each kind are reconciled in parallel.
	Workers int
	// Clock is injected by tests; nil means the real clock.
	Clock clock.PassiveClock
	// Wake, when set, enqueues the SiteDeployments sent on it. Tests that
	// step a fake clock use it in place of waiting for a timed requeue.
	Wake <-chan event.GenericEvent
	// Namespaces are the namespaces the manager's cache holds (its
	// --namespaces shard); empty: all.
	Namespaces []string
	// Metrics receives what the reconcilers write; nil means the process's
	// metrics in controller-runtime's registry.
	Metrics *metrics.Metrics
	// Resolver resolves a candidate's tags at the registry before its
	// first pod; nil: registry.Resolver's defaults.
	Resolver *registry.Resolver
}

// Setup registers both controllers with the manager.
func Setup(mgr ctrl.Manager, o Options) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Metrics == nil {
		m, err := defaultMetrics()
		if err != nil {
			return fmt.Errorf("cannot register the metrics: %w", err)
		}
		o.Metrics = m
	}
	if o.Resolver == nil {
		o.Resolver = &registry.Resolver{}
	}
	if o.Workers < 1 {
		o.Workers = 1
	}
	sd := &SiteDeploymentReconciler{
		Client:   mgr.GetClient(),
		Reader:   mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("sitedeployment-controller"),
		Clock:    o.Clock,
		Metrics:  o.Metrics,
		// Upstreams outside the shard are read past the cache.
		Namespaces: o.Namespaces,
		Resolver:   o.Resolver,
	}
	if err := sd.SetupWithManager(mgr, o.Workers, o.Wake); err != nil {
		return fmt.Errorf("cannot set up the SiteDeployment controller: %w", err)
	}
	dr := &DatabaseRefreshReconciler{
		Client:      mgr.GetClient(),
		Reader:      mgr.GetAPIReader(),
		Recorder:    mgr.GetEventRecorder("databaserefresh-controller"),
		Clock:       o.Clock,
		RunnerImage: o.RunnerImage,
		Metrics:     o.Metrics,
	}
	if err := dr.SetupWithManager(mgr, o.Workers); err != nil {
		return fmt.Errorf("cannot set up the DatabaseRefresh controller: %w", err)
	}
	return nil
}

// defaultMetrics registers understudy's metrics in controller-runtime's
// registry once per process, however many managers the process runs.
var defaultMetrics = sync.OnceValues(func() (*metrics.Metrics, error) {
	return metrics.New(ctrlmetrics.Registry)
})
