package controllers

import (
	"context"

	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// DatabaseRefreshReconciler keeps a CronJob that runs the refresh runner and
// reports the runner's results in status.
type DatabaseRefreshReconciler struct {
	client.Client
	// Reader reads past the cache (pods' termination messages).
	Reader      client.Reader
	Recorder    events.EventRecorder
	Clock       clock.PassiveClock
	RunnerImage string
}

// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=databaserefreshes,verbs=get;list;watch
// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=databaserefreshes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=sitedeployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is filled in by the DatabaseRefresh issue.
func (r *DatabaseRefreshReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return ctrl.Result{}, nil
}

// SetupWithManager registers the controller.
func (r *DatabaseRefreshReconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&deployv1alpha1.DatabaseRefresh{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}
