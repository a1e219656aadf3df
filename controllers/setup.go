package controllers

import (
	"fmt"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
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
}

// Setup registers both controllers with the manager.
func Setup(mgr ctrl.Manager, o Options) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Workers < 1 {
		o.Workers = 1
	}
	sd := &SiteDeploymentReconciler{
		Client:   mgr.GetClient(),
		Reader:   mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("sitedeployment-controller"),
		Clock:    o.Clock,
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
	}
	if err := dr.SetupWithManager(mgr, o.Workers); err != nil {
		return fmt.Errorf("cannot set up the DatabaseRefresh controller: %w", err)
	}
	return nil
}
