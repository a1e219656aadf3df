package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/registry"
)

// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get

// resolve asks the registry for the digests of a candidate's tags, with
// the pull secrets its pods would use: the template's imagePullSecrets and
// its service account's. A failure is the planner's to report (the
// candidate then pins from its pods), not a reconcile error.
func (r *SiteDeploymentReconciler) resolve(ctx context.Context, site *v1.SiteDeployment, req *bluegreen.ResolveRequest) *bluegreen.Resolution {
	out := &bluegreen.Resolution{Revision: req.Revision}
	secrets, err := r.pullSecrets(ctx, site.Namespace, &req.Template.Spec)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	images := make([]registry.Image, len(req.Images))
	for i, im := range req.Images {
		images[i] = registry.Image{Container: im.Container, Image: im.Image}
	}
	got, err := r.Resolver.Resolve(ctx, images, secrets)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	for _, g := range got {
		out.Pins = append(out.Pins, v1.PinnedImage{Container: g.Container, Image: g.Image, Digest: g.Digest})
	}
	return out
}

// pullSecrets reads, past the cache, the pull secrets a pod of spec uses.
// A missing one is skipped, as the kubelet skips it.
func (r *SiteDeploymentReconciler) pullSecrets(ctx context.Context, ns string, spec *corev1.PodSpec) ([]corev1.Secret, error) {
	refs := append([]corev1.LocalObjectReference(nil), spec.ImagePullSecrets...)
	sa := &corev1.ServiceAccount{}
	name := spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sa); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("cannot read service account %s: %w", name, err)
	}
	refs = append(refs, sa.ImagePullSecrets...)
	var out []corev1.Secret
	for _, ref := range refs {
		s := corev1.Secret{}
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("cannot read pull secret %s: %w", ref.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}
