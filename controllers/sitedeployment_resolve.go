package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

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
	name := spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	fromSA, err := r.saPullSecrets.get(client.ObjectKey{Namespace: ns, Name: name}, func(key client.ObjectKey) ([]corev1.LocalObjectReference, error) {
		sa := &corev1.ServiceAccount{}
		if err := r.Reader.Get(ctx, key, sa); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("cannot read service account %s: %w", name, err)
		}
		return sa.ImagePullSecrets, nil
	})
	if err != nil {
		return nil, err
	}
	refs = append(refs, fromSA...)
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

// saPullSecretsTTL is how long a service account's imagePullSecrets are
// remembered: a wave of releases in one namespace reads its service
// account once, not once per site, past the cache (the manager caches no
// ServiceAccounts), while the worker that starts each candidate waits.
const saPullSecretsTTL = 30 * time.Second

// saPullSecrets remembers service accounts' imagePullSecrets for
// saPullSecretsTTL.
type saPullSecrets struct {
	mu sync.Mutex
	m  map[client.ObjectKey]saEntry
}

type saEntry struct {
	at   time.Time
	refs []corev1.LocalObjectReference
}

func (c *saPullSecrets) get(key client.ObjectKey, read func(client.ObjectKey) ([]corev1.LocalObjectReference, error)) ([]corev1.LocalObjectReference, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < saPullSecretsTTL {
		return e.refs, nil
	}
	refs, err := read(key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[client.ObjectKey]saEntry{}
	}
	for k, old := range c.m { // bounded by the namespaces releasing within the TTL
		if time.Since(old.at) >= saPullSecretsTTL {
			delete(c.m, k)
		}
	}
	c.m[key] = saEntry{at: time.Now(), refs: refs}
	return refs, nil
}
