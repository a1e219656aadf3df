package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A release group (spec.strategy.group) is a namespace's set of sites: its
// members are read from the cache with an index on the group, and a
// member's change (its spec or its status) wakes the other members, whose
// planners decide from what it wrote (internal/bluegreen/group.go). A
// group never spans namespaces, so one shard's cache always holds all of
// it.

// groupIndex indexes SiteDeployments by <namespace>/<spec.strategy.group>.
const groupIndex = "spec.strategy.group"

// groupKeys is the index function of groupIndex.
func groupKeys(obj client.Object) []string {
	sd, ok := obj.(*v1.SiteDeployment)
	if !ok || sd.Spec.Strategy.Group == "" {
		return nil
	}
	return []string{sd.Namespace + "/" + sd.Spec.Strategy.Group}
}

// groupMembersOf enqueues the other members of obj's group. controller-
// runtime maps both the old and the new object of an update, so a site
// leaving a group wakes the group it left.
func (r *SiteDeploymentReconciler) groupMembersOf(ctx context.Context, obj client.Object) []reconcile.Request {
	sd, ok := obj.(*v1.SiteDeployment)
	if !ok || sd.Spec.Strategy.Group == "" {
		return nil
	}
	members, err := r.groupMembers(ctx, sd)
	if err != nil {
		return nil // the cache is indexed at start: this does not fail in practice
	}
	out := make([]reconcile.Request, 0, len(members))
	for _, m := range members {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(m)})
	}
	return out
}

// groupMembers reads the other members of site's group for the planner.
func (r *SiteDeploymentReconciler) groupMembers(ctx context.Context, site *v1.SiteDeployment) ([]*v1.SiteDeployment, error) {
	if site.Spec.Strategy.Group == "" {
		return nil, nil
	}
	var sites v1.SiteDeploymentList
	if err := r.List(ctx, &sites, client.InNamespace(site.Namespace),
		client.MatchingFields{groupIndex: site.Namespace + "/" + site.Spec.Strategy.Group}); err != nil {
		return nil, fmt.Errorf("cannot list the members of release group %s: %w", site.Spec.Strategy.Group, err)
	}
	out := make([]*v1.SiteDeployment, 0, len(sites.Items))
	for i := range sites.Items {
		if sites.Items[i].Name != site.Name {
			out = append(out, &sites.Items[i])
		}
	}
	return out, nil
}
