package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// What the cache keeps of the objects a site has several of, and of the
// sites. Each transform keeps what the controllers read, and what a patch
// computed between two cached copies touches, and drops the rest: at
// 3,000 sites the Deployments' pod templates were the largest part of the
// live heap after the sites themselves (docs/design/scale.md). A write
// that replaces what was dropped reads the whole object from the API
// server first (applyDeployment). Like cache.TransformStripManagedFields,
// each drops managedFields, and leaves anything else (a tombstone) alone.
// Each also shares the strings many objects repeat (cache_intern.go).

// slimDeployment keeps of a site's Deployment its metadata but its
// annotations, its replicas, selector and strategy, its pod template's
// labels and annotations (revision, restart) and each container's name and
// image (the pins), and its status's replica counts: what readyAt,
// runsPinned and setDeployment read. The Deployment's own annotations are
// kube-controller-manager's (its rollout revision): nothing here reads
// them, and setDeployment writes none.
func slimDeployment(obj any) (any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return obj, nil
	}
	d.ManagedFields, d.Annotations = nil, nil
	spec := &d.Spec.Template.Spec
	*spec = corev1.PodSpec{InitContainers: namesAndImages(spec.InitContainers), Containers: namesAndImages(spec.Containers)}
	d.Status.Conditions = nil
	internDeployment(d)
	return d, nil
}

func namesAndImages(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image}
	}
	return out
}

// slimService keeps of a site's Service its metadata, type, selector and
// ports: what servedBy and applyService read and write (a merge patch
// between two cached copies sends only those). Its cluster IPs, IP
// families and status are dropped.
func slimService(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	svc.ManagedFields = nil
	svc.Spec = corev1.ServiceSpec{Type: svc.Spec.Type, Selector: svc.Spec.Selector, Ports: svc.Spec.Ports}
	svc.Status = corev1.ServiceStatus{}
	internService(svc)
	return svc, nil
}

// slimSite drops kubectl's last-applied-configuration from a SiteDeployment
// (a second copy of its spec, written by kubectl apply and Argo CD, and
// read by neither controller). The controllers write sites by patches
// only, which send what changed between two cached copies: the annotation
// stays on the server.
func slimSite(obj any) (any, error) {
	site, ok := obj.(*v1.SiteDeployment)
	if !ok {
		return obj, nil
	}
	site.ManagedFields = nil
	delete(site.Annotations, corev1.LastAppliedConfigAnnotation)
	internSite(site)
	return site, nil
}
