package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// revisions lists the site's ControllerRevisions by revision.
func (r *SiteDeploymentReconciler) revisions(ctx context.Context, site *v1.SiteDeployment) (map[string]*appsv1.ControllerRevision, error) {
	list := &appsv1.ControllerRevisionList{}
	// Only read (decoded, numbered, deleted by name): no deep copy of each
	// revision's stored template.
	if err := r.List(ctx, list, append(ofSite(site), client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, fmt.Errorf("cannot list revisions: %w", err)
	}
	out := map[string]*appsv1.ControllerRevision{}
	for i := range list.Items {
		out[list.Items[i].Labels[v1.LabelRevision]] = &list.Items[i]
	}
	return out, nil
}

// templateOf decodes the pod template a ControllerRevision stores.
func templateOf(cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	t := &corev1.PodTemplateSpec{}
	if err := json.Unmarshal(cr.Data.Raw, t); err != nil {
		return nil, fmt.Errorf("cannot decode revision %s: %w", cr.Name, err)
	}
	return t, nil
}

// metaOwnedBy reports whether site owns obj (an owner reference with the
// site's UID, not only its name).
func metaOwnedBy(obj client.Object, site *v1.SiteDeployment) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.UID == site.UID {
			return true
		}
	}
	return false
}
