package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// CacheOptions is what the manager's cache keeps: the namespaces of a shard
// (all when empty), no managedFields (nothing reads them; they are often
// the largest part of an object), of Deployments, Services and
// SiteDeployments only what the controllers read (cache_transform.go), and
// of the kinds a cluster has many of only the objects the controllers made:
//   - Deployments, Services and ControllerRevisions labelled with a site
//     (every one a SiteDeployment creates carries deploy.understudy.dev/site;
//     a same-named object without it is found on create, see createFailed);
//   - Pods (watched by their metadata, for refresh Jobs) labelled with a
//     DatabaseRefresh.
//
// Jobs (check, migration and refresh Jobs carry different labels), CronJobs,
// ConfigMaps (sanitize scripts are the user's) and the project's own kinds
// are kept whole.
func CacheOptions(namespaces []string) (cache.Options, error) {
	site, err := hasLabel(v1.LabelSite)
	if err != nil {
		return cache.Options{}, err
	}
	refresh, err := hasLabel(v1.LabelRefresh)
	if err != nil {
		return cache.Options{}, err
	}
	o := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:         {Label: site, Transform: slimDeployment},
			&corev1.Service{}:            {Label: site, Transform: slimService},
			&v1.SiteDeployment{}:         {Transform: slimSite},
			&appsv1.ControllerRevision{}: {Label: site, Transform: internRevision},
			&corev1.Pod{}:                {Label: refresh},
		},
	}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o, nil
}

// hasLabel selects the objects that carry key, whatever its value.
func hasLabel(key string) (labels.Selector, error) {
	req, err := labels.NewRequirement(key, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("cache selector: %w", err)
	}
	return labels.NewSelector().Add(*req), nil
}

// indexSite indexes ControllerRevisions and Jobs by the site their label
// names: a reconcile lists its site's few, not every one of the namespace
// (the cache filters a label selector object by object).
const indexSite = "metadata.labels.site"

func indexBySite(mgr manager.Manager) error {
	for _, obj := range []client.Object{&appsv1.ControllerRevision{}, &batchv1.Job{}} {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), obj, indexSite, bySiteLabel); err != nil {
			return fmt.Errorf("cannot index %T by site: %w", obj, err)
		}
	}
	return nil
}

// bySiteLabel is the indexSite value of an object: its site label.
func bySiteLabel(o client.Object) []string {
	if s, ok := o.GetLabels()[v1.LabelSite]; ok {
		return []string{s}
	}
	return nil
}

// ofSite lists a site's objects by indexSite.
func ofSite(site *v1.SiteDeployment) []client.ListOption {
	return []client.ListOption{client.InNamespace(site.Namespace), client.MatchingFields{indexSite: site.Name}}
}
