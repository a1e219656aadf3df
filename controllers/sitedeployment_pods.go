package controllers

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/poddiag"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch

// observePods reads the site's pods from the pod cache, once: each
// color's pods as the planner judges readiness and digests by them, and
// the ones that are not becoming ready (poddiag), newest first.
func (r *SiteDeploymentReconciler) observePods(ctx context.Context, site *v1.SiteDeployment, now time.Time) (
	map[v1.Color][]bluegreen.PodImages, map[v1.Color][]bluegreen.PodProblem, error) {
	var pods corev1.PodList
	// Only read: no deep copy of each pod (the cache's objects are
	// shared, never written).
	if err := r.pods.List(ctx, &pods, append(ofSite(site), client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, nil, fmt.Errorf("cannot list the site's pods: %w", err)
	}
	sort.Slice(pods.Items, func(a, b int) bool {
		return pods.Items[b].CreationTimestamp.Before(&pods.Items[a].CreationTimestamp)
	})
	images := map[v1.Color][]bluegreen.PodImages{}
	problems := map[v1.Color][]bluegreen.PodProblem{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		color := v1.Color(p.Labels[v1.LabelColor])
		images[color] = append(images[color], podImages(p))
		pr := bluegreen.PodProblem{Revision: p.Labels[v1.LabelRevision]}
		if problem, ok := poddiag.Of(p, now); ok {
			pr.Problem = problem
		} else if pr.NamedAt = poddiag.NamedAt(p, now); pr.NamedAt.IsZero() {
			continue
		}
		problems[color] = append(problems[color], pr)
	}
	return images, problems, nil
}

// lagging fills in, past the cache, the pods of a color whose Deployment
// reports every replica available while the pod cache shows none of them
// (the two caches are fed by separate watches): without it the planner
// would judge that color by its Deployment alone and record no digests
// from pods it has not seen.
func (r *SiteDeploymentReconciler) lagging(ctx context.Context, site *v1.SiteDeployment, o *bluegreen.Observed) error {
	for color, d := range o.Deployments {
		if len(o.Pods[color]) > 0 || !bluegreen.AllAvailable(d) {
			continue
		}
		var pods corev1.PodList
		if err := r.Reader.List(ctx, &pods, client.InNamespace(site.Namespace),
			client.MatchingLabels{v1.LabelSite: site.Name, v1.LabelColor: string(color)}); err != nil {
			return fmt.Errorf("cannot list the pods of %s: %w", color, err)
		}
		for i := range pods.Items {
			if pods.Items[i].DeletionTimestamp == nil {
				o.Pods[color] = append(o.Pods[color], podImages(&pods.Items[i]))
			}
		}
	}
	return nil
}

// podImages is what the planner reads of a pod.
func podImages(p *corev1.Pod) bluegreen.PodImages {
	pi := bluegreen.PodImages{Name: p.Name, Revision: p.Labels[v1.LabelRevision], ImageIDs: map[string]string{},
		Preview: p.Annotations[v1.AnnotationPreviewSettings], RestartedAt: p.Annotations[v1.AnnotationRestartedAt]}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			pi.Ready, pi.ReadySince = true, c.LastTransitionTime.Time
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		pi.ImageIDs[cs.Name] = cs.ImageID
	}
	return pi
}

// sitePods is a cache of the pods of the sites' Deployments (labelled with
// a site and a color), slim (slimPod), indexed by site. It is a cache of
// its own: the manager's keeps pods selected by another label (refresh
// pods), and a kind has one selector per cache. GetCache makes the manager
// start and sync it with its own cache, before the controllers.
type sitePods struct{ cache.Cache }

func (c sitePods) GetCache() cache.Cache { return c.Cache }

// watchPods makes the pod cache, adds it to the manager and returns a
// source that wakes a site when the problem of one of its pods changes
// (podSignal): a crash-looping candidate is named within seconds, while its
// Deployment's status does not change.
func (r *SiteDeploymentReconciler) watchPods(mgr manager.Manager) (source.Source, error) {
	sel := labels.NewSelector()
	for _, key := range []string{v1.LabelSite, v1.LabelColor} {
		req, err := labels.NewRequirement(key, selection.Exists, nil)
		if err != nil {
			return nil, fmt.Errorf("pod cache selector: %w", err)
		}
		sel = sel.Add(*req)
	}
	o := cache.Options{HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultLabelSelector: sel, DefaultTransform: slimPod}
	if len(r.Namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range r.Namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(mgr.GetConfig(), o)
	if err != nil {
		return nil, fmt.Errorf("cannot make the pod cache: %w", err)
	}
	if err := c.IndexField(context.Background(), &corev1.Pod{}, indexSite, bySiteLabel); err != nil {
		return nil, fmt.Errorf("cannot index pods by site: %w", err)
	}
	if err := mgr.Add(sitePods{c}); err != nil {
		return nil, err
	}
	r.pods = c
	return source.Kind(c, &corev1.Pod{}, handler.TypedEventHandler[*corev1.Pod, reconcile.Request](podEvents{r})), nil
}

// podSignal is what a site's decision reads of a pod: its problem (the
// status message quotes the kubelet's latest words), or when it will have
// one; "" when neither.
func (r *SiteDeploymentReconciler) podSignal(p *corev1.Pod) string {
	now := r.Clock.Now()
	if pr, ok := poddiag.Of(p, now); ok {
		return pr.String()
	}
	if at := poddiag.NamedAt(p, now); !at.IsZero() {
		return "unready until " + at.String()
	}
	return ""
}
