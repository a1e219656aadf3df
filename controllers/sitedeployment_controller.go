package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/source"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/metrics"
	"github.com/understudy-dev/understudy/internal/registry"
)

// SiteDeploymentReconciler runs blue/green releases of a SiteDeployment. It
// observes the site's Deployments, Services, check Jobs and stored revisions,
// asks bluegreen.Decide what to do, applies it, and records status once.
type SiteDeploymentReconciler struct {
	client.Client
	// Reader reads Secrets past the cache, so the manager never caches
	// every Secret of the cluster.
	Reader   client.Reader
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Metrics  *metrics.Metrics
	// Namespaces the manager's cache holds; empty: all. Upstreams of a
	// promotion gate outside them are read past the cache.
	Namespaces []string
	// Resolver asks registries for the digests of a candidate's tags.
	Resolver *registry.Resolver

	written       ownWrites
	steps         []step[*siteRun]
	copies        *copies
	saPullSecrets saPullSecrets
	// pods is the cache of the sites' pods (watchPods).
	pods client.Reader
}

// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=sitedeployments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=sitedeployments/finalizers,verbs=update
// +kubebuilder:rbac:groups=deploy.understudy.dev,resources=sitedeployments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=controllerrevisions,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile reads the site and runs its steps (sitedeployment_steps.go):
// observe, decide, apply the plan stage by stage, record.
func (r *SiteDeploymentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	started := time.Now()
	site := &deployv1alpha1.SiteDeployment{}
	if err := r.Get(ctx, req.NamespacedName, site); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.ForgetSite(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !site.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, site)
	}
	if w, ok := r.written.latest(site).(*deployv1alpha1.SiteDeployment); ok {
		// The cache has not seen our last status write yet: decide on
		// what was written (the API server's answer), at once, rather
		// than wait for its watch event (seconds behind a loaded API
		// server, while the pod that completed a candidate waits).
		site = w
	}
	if added, err := r.ensureFinalizer(ctx, site); added || err != nil {
		return ctrl.Result{}, err
	}
	return r.runSteps(ctx, &siteRun{site: site, started: started})
}

// patchStatus writes the site's status as mutate makes it (patchStatus).
func (r *SiteDeploymentReconciler) patchStatus(ctx context.Context, site *deployv1alpha1.SiteDeployment, mutate func(*deployv1alpha1.SiteDeploymentStatus)) error {
	return patchStatus(ctx, r.Client, &r.written, site, func(s *deployv1alpha1.SiteDeployment) { mutate(&s.Status) })
}

// SetupWithManager registers the controller. wake, when set, enqueues the
// SiteDeployments sent on it (tests use it after stepping a fake clock).
func (r *SiteDeploymentReconciler) SetupWithManager(mgr ctrl.Manager, workers int, wake <-chan event.GenericEvent) error {
	if err := indexBySite(mgr); err != nil {
		return err
	}
	steps, err := r.siteSteps()
	if err != nil {
		return err
	}
	r.steps = steps
	b := ctrl.NewControllerManagedBy(mgr).
		For(&deployv1alpha1.SiteDeployment{}).
		// Owns, with the reconcile that may switch traffic queued first.
		Watches(&appsv1.Deployment{}, availableFirst{inner: handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(),
			&deployv1alpha1.SiteDeployment{}, handler.OnlyControllerOwner()), r: r}).
		Owns(&corev1.Service{}).
		Owns(&batchv1.Job{}).
		// An upstream's changes wake the sites whose promotion gate names it.
		Watches(&deployv1alpha1.SiteDeployment{}, handler.EnqueueRequestsFromMapFunc(r.downstreamsOf)).
		// A member's changes wake the other members of its release group.
		Watches(&deployv1alpha1.SiteDeployment{}, handler.EnqueueRequestsFromMapFunc(r.groupMembersOf)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers})
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &deployv1alpha1.SiteDeployment{}, upstreamIndex, upstreamKeys); err != nil {
		return fmt.Errorf("cannot index SiteDeployments by upstream: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &deployv1alpha1.SiteDeployment{}, groupIndex, groupKeys); err != nil {
		return fmt.Errorf("cannot index SiteDeployments by release group: %w", err)
	}
	pods, err := r.watchPods(mgr)
	if err != nil {
		return err
	}
	b = b.WatchesRawSource(pods)
	r.copies = newCopies()
	b = b.WatchesRawSource(source.Channel(r.copies.done, &handler.EnqueueRequestForObject{}))
	// Copies end with the manager; the next one redoes a half-done copy.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		r.copies.stopAll()
		return nil
	})); err != nil {
		return err
	}
	if wake != nil {
		b = b.WatchesRawSource(source.Channel(wake, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

// getOwned reads an object by name; a missing one leaves obj empty, and one
// not owned by the site is an error a person must resolve.
func (r *SiteDeploymentReconciler) getOwned(ctx context.Context, site *deployv1alpha1.SiteDeployment, name string, obj client.Object) error {
	if err := r.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			obj.SetName("")
			return nil
		}
		return fmt.Errorf("cannot read %s: %w", name, err)
	}
	if !metaOwnedBy(obj, site) {
		return fmt.Errorf("%s %s exists and is not owned by SiteDeployment %s: rename or delete it", obj.GetObjectKind().GroupVersionKind().Kind, name, site.Name)
	}
	return nil
}
