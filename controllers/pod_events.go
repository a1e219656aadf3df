package controllers

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// podEvents wakes a site on what its decision reads of its pods. A pod
// that turns Ready and completes its color (every pod its Deployment asks
// for, of that revision, Ready), or that leaves a complete color (the
// last pod of an earlier template going), queues the site ahead of the
// others (availablePriority): that reconcile switches traffic, or starts the
// checks, without waiting for kube-controller-manager to write the
// ReplicaSet's and the Deployment's status. A pod turning Ready that does
// not complete its color wakes nothing; one that stops being Ready, or
// whose problem (podSignal) changes, wakes the site at the default
// priority.
type podEvents struct{ r *SiteDeploymentReconciler }

func (h podEvents) Create(ctx context.Context, e event.TypedCreateEvent[*corev1.Pod], q workQueue) {
	h.woke(ctx, nil, e.Object, q)
}

func (h podEvents) Update(ctx context.Context, e event.TypedUpdateEvent[*corev1.Pod], q workQueue) {
	h.woke(ctx, e.ObjectOld, e.ObjectNew, q)
}

func (podEvents) Delete(context.Context, event.TypedDeleteEvent[*corev1.Pod], workQueue) {}

func (podEvents) Generic(context.Context, event.TypedGenericEvent[*corev1.Pod], workQueue) {}

func (h podEvents) woke(ctx context.Context, old, pod *corev1.Pod, q workQueue) {
	req := reconcile.Request{NamespacedName: client.ObjectKey{Namespace: pod.Namespace, Name: pod.Labels[v1.LabelSite]}}
	wasReady := old != nil && servesReady(old)
	turnedReady := servesReady(pod) && !wasReady
	leaving := wasReady && pod.DeletionTimestamp != nil // a preview pod the scale-up replaced, say
	switch {
	case (turnedReady || leaving) && h.completes(ctx, pod):
		if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
			pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(availablePriority)}, req)
			return
		}
		q.Add(req)
	case wasReady && !servesReady(pod), old == nil && h.r.podSignal(pod) != "",
		old != nil && h.r.podSignal(old) != h.r.podSignal(pod):
		q.Add(req)
	}
}

// servesReady: the pod is Ready and not terminating.
func servesReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// completes tells whether pod's color now has as many Ready pods of pod's
// revision as its Deployment asks for (from the caches: a cheap read of
// the site's few pods).
func (h podEvents) completes(ctx context.Context, pod *corev1.Pod) bool {
	site, color, rev := pod.Labels[v1.LabelSite], v1.Color(pod.Labels[v1.LabelColor]), pod.Labels[v1.LabelRevision]
	d := &appsv1.Deployment{}
	// A color scaled to zero completes nothing: its pods leaving after a
	// switch must not queue the site ahead of the flips still waiting.
	if err := h.r.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: bluegreen.DeploymentName(site, color)}, d); err != nil ||
		d.Spec.Template.Labels[v1.LabelRevision] != rev || ptr.Deref(d.Spec.Replicas, 1) == 0 {
		return false
	}
	var pods corev1.PodList
	if err := h.r.pods.List(ctx, &pods, client.InNamespace(pod.Namespace), client.MatchingFields{indexSite: site}, client.UnsafeDisableDeepCopy); err != nil {
		return false
	}
	var ready int32
	for i := range pods.Items {
		p := &pods.Items[i]
		if v1.Color(p.Labels[v1.LabelColor]) == color && p.Labels[v1.LabelRevision] == rev && servesReady(p) {
			ready++
		}
	}
	return ready >= ptr.Deref(d.Spec.Replicas, 1)
}

// podsSeen: the pod cache holds a pod of d's site and color.
func (r *SiteDeploymentReconciler) podsSeen(ctx context.Context, d *appsv1.Deployment) bool {
	if r.pods == nil {
		return false
	}
	var pods corev1.PodList
	if err := r.pods.List(ctx, &pods, client.InNamespace(d.Namespace), client.MatchingFields{indexSite: d.Labels[v1.LabelSite]}, client.UnsafeDisableDeepCopy); err != nil {
		return false
	}
	for i := range pods.Items {
		if pods.Items[i].Labels[v1.LabelColor] == d.Labels[v1.LabelColor] {
			return true
		}
	}
	return false
}
