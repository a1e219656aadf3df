package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// observe reads everything the planner looks at, from the cache.
// The stored revisions come back too, for the Objects step.
func (r *SiteDeploymentReconciler) observe(ctx context.Context, site *deployv1alpha1.SiteDeployment) (bluegreen.Observed, map[string]*appsv1.ControllerRevision, error) {
	o := bluegreen.Observed{
		Site:        site,
		Deployments: map[deployv1alpha1.Color]*appsv1.Deployment{},
		Jobs:        map[string]*batchv1.Job{},
		Templates:   map[string]*corev1.PodTemplateSpec{},
		Now:         r.Clock.Now(),
	}
	for _, c := range []deployv1alpha1.Color{deployv1alpha1.Blue, deployv1alpha1.Green} {
		d := &appsv1.Deployment{}
		if err := r.getOwned(ctx, site, bluegreen.DeploymentName(site.Name, c), d); err != nil {
			return o, nil, err
		} else if d.Name != "" {
			o.Deployments[c] = d
		}
	}
	for name, dst := range map[string]**corev1.Service{
		bluegreen.ActiveServiceName(site):  &o.ActiveService,
		bluegreen.PreviewServiceName(site): &o.PreviewService,
	} {
		svc := &corev1.Service{}
		if err := r.getOwned(ctx, site, name, svc); err != nil {
			return o, nil, err
		} else if svc.Name != "" {
			*dst = svc
		}
	}
	jobs := &batchv1.JobList{}
	if err := r.List(ctx, jobs, ofSite(site)...); err != nil {
		return o, nil, fmt.Errorf("cannot list check jobs: %w", err)
	}
	for i := range jobs.Items {
		o.Jobs[jobs.Items[i].Name] = &jobs.Items[i]
	}
	failures, err := r.jobFailures(ctx, o.Jobs)
	if err != nil {
		return o, nil, err
	}
	o.JobFailures = failures
	revs, err := r.revisions(ctx, site)
	if err != nil {
		return o, nil, err
	}
	for rev, cr := range revs {
		o.Templates[rev], _ = templateOf(cr) // nil when it cannot be decoded: it is dropped once history forgets it
	}
	if o.Upstreams, err = r.observeUpstreams(ctx, site); err != nil {
		return o, nil, err
	}
	if o.Group, err = r.groupMembers(ctx, site); err != nil {
		return o, nil, err
	}
	if o.Pods, o.NotReady, err = r.observePods(ctx, site, o.Now); err != nil {
		return o, nil, err
	}
	if err := r.lagging(ctx, site, &o); err != nil {
		return o, nil, err
	}
	return o, revs, nil
}
