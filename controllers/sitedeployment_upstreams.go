package controllers

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// The promotion gate reads upstream SiteDeployments in any namespace: the
// ClusterRole's get/list/watch of sitedeployments (config/rbac) covers
// them. An upstream in a namespace the manager watches is read from the
// cache, and its changes enqueue the sites that name it (an index on
// spec.promotion.upstreams). One outside the manager's --namespaces is read
// past the cache, with a direct GET, and a site waiting for it looks again
// every bluegreen.UpstreamPoll. A GET the manager's RBAC forbids (a shard
// with namespaced Roles) leaves the site waiting with a message that says so.

// upstreamIndex indexes SiteDeployments by the upstreams they name
// (<namespace>/<name>).
const upstreamIndex = "spec.promotion.upstreams"

// upstreamKeys is the index function of upstreamIndex.
func upstreamKeys(obj client.Object) []string {
	sd, ok := obj.(*v1.SiteDeployment)
	if !ok || sd.Spec.Promotion == nil {
		return nil
	}
	keys := make([]string, 0, len(sd.Spec.Promotion.Upstreams))
	for _, u := range sd.Spec.Promotion.Upstreams {
		keys = append(keys, upstreamNamespace(sd, u)+"/"+u.Name)
	}
	return keys
}

func upstreamNamespace(sd *v1.SiteDeployment, u v1.UpstreamReference) string {
	if u.Namespace == "" {
		return sd.Namespace
	}
	return u.Namespace
}

// downstreamsOf enqueues the sites whose promotion gate names obj.
func (r *SiteDeploymentReconciler) downstreamsOf(ctx context.Context, obj client.Object) []reconcile.Request {
	var sites v1.SiteDeploymentList
	if err := r.List(ctx, &sites, client.MatchingFields{upstreamIndex: obj.GetNamespace() + "/" + obj.GetName()}); err != nil {
		return nil // the cache is indexed at start: this does not fail in practice
	}
	out := make([]reconcile.Request, 0, len(sites.Items))
	for _, s := range sites.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
	}
	return out
}

// observeUpstreams reads spec.promotion.upstreams for the planner.
func (r *SiteDeploymentReconciler) observeUpstreams(ctx context.Context, site *v1.SiteDeployment) ([]bluegreen.Upstream, error) {
	if site.Spec.Promotion == nil {
		return nil, nil
	}
	out := make([]bluegreen.Upstream, 0, len(site.Spec.Promotion.Upstreams))
	for _, ref := range site.Spec.Promotion.Upstreams {
		u := bluegreen.Upstream{Namespace: upstreamNamespace(site, ref), Name: ref.Name}
		var reader client.Reader = r.Client
		if !r.watches(u.Namespace) {
			reader, u.Unwatched = r.Reader, true
		}
		sd := &v1.SiteDeployment{}
		switch err := reader.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: u.Name}, sd); {
		case err == nil:
			u.Site = sd
		case apierrors.IsNotFound(err):
			u.Problem = "was not found"
		case apierrors.IsForbidden(err):
			u.Problem = fmt.Sprintf("cannot be read: the manager may not get sitedeployments in namespace %s "+
				"(grant it, see docs/sitedeployment.md, \"Promotion between environments\")", u.Namespace)
		default:
			return nil, fmt.Errorf("cannot read upstream SiteDeployment %s/%s: %w", u.Namespace, u.Name, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// watches tells whether the manager's cache holds namespace ns.
func (r *SiteDeploymentReconciler) watches(ns string) bool {
	return len(r.Namespaces) == 0 || slices.Contains(r.Namespaces, ns)
}
