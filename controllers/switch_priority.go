package controllers

import (
	"context"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// availablePriority is the queue priority of a site whose Deployment has
// just become fully available: above the default (0) and the resyncs
// (handler.LowPriority).
const availablePriority = 100

// availableFirst queues the site of a Deployment that has just become
// fully available ahead of the other sites waiting: that reconcile is the
// one that switches traffic to a candidate (or scales it up, or starts its
// checks). With a thousand sites released at once the queue was hundreds
// deep with other sites' reconciles, and a switch waited its turn behind
// them for seconds after the candidate was ready (docs/design/scale.md).
// Every other event is queued as inner queues it. It needs the priority
// queue (controller-runtime's default); with another queue it changes
// nothing.
//
// It also drops the updates the planner has nothing to read in: once the
// pod cache shows a color's pods, the planner judges that color by them
// (bluegreen's pods.go), and kube-controller-manager's status writes for
// it (several per rollout, thousands in a wave) would only queue
// reconciles ahead of the ones that switch.
type availableFirst struct {
	inner handler.EventHandler
	r     *SiteDeploymentReconciler
}

type workQueue = workqueue.TypedRateLimitingInterface[reconcile.Request]

func (h availableFirst) Create(ctx context.Context, e event.CreateEvent, q workQueue) {
	h.inner.Create(ctx, e, q)
}

func (h availableFirst) Delete(ctx context.Context, e event.DeleteEvent, q workQueue) {
	h.inner.Delete(ctx, e, q)
}

func (h availableFirst) Generic(ctx context.Context, e event.GenericEvent, q workQueue) {
	h.inner.Generic(ctx, e, q)
}

func (h availableFirst) Update(ctx context.Context, e event.UpdateEvent, q workQueue) {
	old, oldOK := e.ObjectOld.(*appsv1.Deployment)
	now, nowOK := e.ObjectNew.(*appsv1.Deployment)
	if oldOK && nowOK && !h.planned(ctx, old, now) {
		return
	}
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok && oldOK && nowOK &&
		!bluegreen.AllAvailable(old) && bluegreen.AllAvailable(now) {
		q = prioritized{pq}
	}
	h.inner.Update(ctx, e, q)
}

// prioritized adds at availablePriority what is added without a priority.
type prioritized struct {
	priorityqueue.PriorityQueue[reconcile.Request]
}

func (p prioritized) Add(r reconcile.Request) {
	p.AddWithOpts(priorityqueue.AddOpts{}, r)
}

func (p prioritized) AddWithOpts(o priorityqueue.AddOpts, rs ...reconcile.Request) {
	if o.Priority == nil {
		o.Priority = ptr.To(availablePriority)
	}
	p.PriorityQueue.AddWithOpts(o, rs...)
}

// planned tells whether a Deployment's update changes what the planner
// reads of it: its spec (generation), labels or deletion; its becoming
// available or not; the status of a color scaled to zero (the planner
// waits for its last pod to be gone before it touches its database); or
// its status counts while no pod of its color is in the pod cache (then
// the planner reads them).
func (h availableFirst) planned(ctx context.Context, old, now *appsv1.Deployment) bool {
	switch {
	case old.Generation != now.Generation, (old.DeletionTimestamp == nil) != (now.DeletionTimestamp == nil),
		!maps.Equal(old.Labels, now.Labels), bluegreen.AllAvailable(old) != bluegreen.AllAvailable(now),
		ptr.Deref(now.Spec.Replicas, 1) == 0:
		return true
	case old.Status.ObservedGeneration == now.Status.ObservedGeneration && old.Status.Replicas == now.Status.Replicas &&
		old.Status.UpdatedReplicas == now.Status.UpdatedReplicas && old.Status.AvailableReplicas == now.Status.AvailableReplicas &&
		ptr.Deref(old.Status.TerminatingReplicas, 0) == ptr.Deref(now.Status.TerminatingReplicas, 0):
		return false
	default:
		return h.r == nil || !h.r.podsSeen(ctx, now)
	}
}
