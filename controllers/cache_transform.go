package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/poddiag"
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

// slimPod keeps of a site's pod what the planner reads to switch on its
// readiness and what poddiag reads to say why it is not becoming ready:
// its name, namespace, creation and deletion times; the site, color and
// revision labels; the preview-settings and restart annotations (which
// template made it); its PodScheduled condition and its Ready condition's
// status and transition time; each container's name, readiness, imageID
// (the digest it runs), state and last termination (reasons, exit codes,
// start time and messages, clipped as poddiag quotes them). Its spec, IPs
// and the rest of its metadata are dropped.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	labels := map[string]string{}
	for _, k := range []string{v1.LabelSite, v1.LabelColor, v1.LabelRevision} {
		if v, ok := pod.Labels[k]; ok {
			labels[intern(k)] = intern(v)
		}
	}
	var annotations map[string]string
	for _, k := range []string{v1.AnnotationPreviewSettings, v1.AnnotationRestartedAt} {
		if v, ok := pod.Annotations[k]; ok {
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[intern(k)] = intern(v)
		}
	}
	slim := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: intern(pod.Namespace),
		UID: pod.UID, ResourceVersion: pod.ResourceVersion, CreationTimestamp: pod.CreationTimestamp,
		DeletionTimestamp: pod.DeletionTimestamp, Labels: labels, Annotations: annotations}}
	for _, c := range pod.Status.Conditions {
		switch c.Type {
		case corev1.PodScheduled:
			slim.Status.Conditions = append(slim.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status,
				Reason: intern(c.Reason), Message: poddiag.Clip(c.Message)})
		case corev1.PodReady:
			slim.Status.Conditions = append(slim.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status,
				LastTransitionTime: c.LastTransitionTime})
		}
	}
	slim.Status.InitContainerStatuses = slimContainerStatuses(pod.Status.InitContainerStatuses)
	slim.Status.ContainerStatuses = slimContainerStatuses(pod.Status.ContainerStatuses)
	return slim, nil
}

func slimContainerStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if in == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, cs := range in {
		out[i] = corev1.ContainerStatus{Name: intern(cs.Name), Ready: cs.Ready, RestartCount: cs.RestartCount, ImageID: intern(cs.ImageID),
			State: slimState(cs.State), LastTerminationState: slimState(cs.LastTerminationState)}
	}
	return out
}

func slimState(s corev1.ContainerState) corev1.ContainerState {
	var out corev1.ContainerState
	if w := s.Waiting; w != nil {
		out.Waiting = &corev1.ContainerStateWaiting{Reason: intern(w.Reason), Message: poddiag.Clip(w.Message)}
	}
	if r := s.Running; r != nil {
		out.Running = &corev1.ContainerStateRunning{StartedAt: r.StartedAt}
	}
	if t := s.Terminated; t != nil {
		out.Terminated = &corev1.ContainerStateTerminated{Reason: intern(t.Reason), ExitCode: t.ExitCode, Message: poddiag.Clip(t.Message)}
	}
	return out
}
