package controllers

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/metrics"
	"github.com/understudy-dev/understudy/internal/refreshjob"
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
	Metrics     *metrics.Metrics

	written ownWrites
	steps   []step[*refreshRun]
}

// indexSanitizeConfigMaps indexes DatabaseRefreshes by the ConfigMaps their
// spec.sanitize reads, so that a change of one reconciles its readers.
const indexSanitizeConfigMaps = "spec.sanitize.configMapKeyRef.name"

// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=databaserefreshes,verbs=get;list;watch
// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=databaserefreshes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=databaserefreshes/finalizers,verbs=update
// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=sitedeployments,verbs=patch
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile observes the DatabaseRefresh and its children without
// writing, asks refreshjob.Decide, and applies the plan step by step
// (refreshSteps): the sanitize ConfigMap and the CronJob brought to the
// spec, a refresh-now Job per new token, the SiteDeployment asked to
// restart after a successful swap, status and events, old refresh-now
// Jobs pruned; it requeues for the next scheduled run.
func (r *DatabaseRefreshReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	dr := &deployv1alpha1.DatabaseRefresh{}
	if err := r.Get(ctx, req.NamespacedName, dr); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.ForgetRefresh(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !dr.DeletionTimestamp.IsZero() {
		r.written.forget(req.NamespacedName)
		return ctrl.Result{}, nil // children go with it by garbage collection
	}
	r.Metrics.ObserveRefreshCreated(dr.Namespace, dr.Name, dr.CreationTimestamp.Time)
	if r.written.behind(dr) {
		return ctrl.Result{}, nil // the event of our own status write brings us back
	}
	run := &refreshRun{dr: dr}
	if err := r.observe(ctx, run); err != nil {
		return ctrl.Result{}, err
	}
	run.plan = refreshjob.Decide(run.observed)
	switch failed, err := runSteps(ctx, r.steps, run); {
	case errors.Is(err, errRefreshGone):
		return ctrl.Result{}, nil // deleted meanwhile: nothing more to do
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("%s: %w", failed, err)
	}
	return ctrl.Result{RequeueAfter: run.plan.RequeueAfter}, nil
}

// SetupWithManager registers the controller. Pods and ConfigMaps are
// watched by their metadata only: the controller reads the few it needs
// through Reader, and the manager does not cache every pod and ConfigMap.
func (r *DatabaseRefreshReconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	r.steps = r.refreshSteps()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &deployv1alpha1.DatabaseRefresh{}, indexSanitizeConfigMaps,
		func(o client.Object) []string {
			return refreshjob.ReferencedConfigMaps(o.(*deployv1alpha1.DatabaseRefresh).Spec.Sanitize)
		}); err != nil {
		return fmt.Errorf("cannot index DatabaseRefreshes by sanitize ConfigMap: %w", err)
	}
	labelled := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, ok := o.GetLabels()[deployv1alpha1.LabelRefresh]
		return ok
	}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&deployv1alpha1.DatabaseRefresh{}).
		Owns(&batchv1.CronJob{}).
		// Jobs of the CronJob and refresh-now Jobs both carry the label.
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(byRefreshLabel), labelled).
		WatchesMetadata(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(byRefreshLabel), labelled).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.configMapReaders)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// byRefreshLabel maps a Job, pod or ConfigMap to the DatabaseRefresh named
// by its label.
func byRefreshLabel(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := o.GetLabels()[deployv1alpha1.LabelRefresh]
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
}

// configMapReaders maps a ConfigMap to its owner and to the
// DatabaseRefreshes whose spec.sanitize reads it.
func (r *DatabaseRefreshReconciler) configMapReaders(ctx context.Context, o client.Object) []reconcile.Request {
	reqs := byRefreshLabel(ctx, o)
	var list deployv1alpha1.DatabaseRefreshList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{indexSanitizeConfigMaps: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "cannot list the DatabaseRefreshes reading a ConfigMap", "configMap", o.GetName())
		return reqs
	}
	for _, dr := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&dr)})
	}
	return reqs
}
