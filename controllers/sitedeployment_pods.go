package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=list

// colorPods reads what the pods of one color resolved, past the cache: the
// planner asks only while a candidate is in preview (NeedsPods), so the
// manager never caches every pod of every site.
func (r *SiteDeploymentReconciler) colorPods(ctx context.Context, site *v1.SiteDeployment, color v1.Color) ([]bluegreen.PodImages, error) {
	var pods corev1.PodList
	if err := r.Reader.List(ctx, &pods, client.InNamespace(site.Namespace),
		client.MatchingLabels{v1.LabelSite: site.Name, v1.LabelColor: string(color)}); err != nil {
		return nil, fmt.Errorf("cannot list the pods of %s: %w", color, err)
	}
	out := make([]bluegreen.PodImages, 0, len(pods.Items))
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		pi := bluegreen.PodImages{Name: p.Name, Revision: p.Labels[v1.LabelRevision], ImageIDs: map[string]string{}}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				pi.Ready = c.Status == corev1.ConditionTrue
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			pi.ImageIDs[cs.Name] = cs.ImageID
		}
		out = append(out, pi)
	}
	return out, nil
}
