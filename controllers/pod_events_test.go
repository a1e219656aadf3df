package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A pod whose readiness completes its color queues its site first; the
// old color's pods going after a switch (their Deployment scaled to zero)
// keep their turn behind it, though nothing of that color is left to wait
// for. A pure unit test of the handler's routing: the reader is a fake.
func TestPodEventsQueueOnlyACompletedColorFirst(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	deployment := func(site string, c v1.Color, replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: site + "-" + string(c)},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{v1.LabelRevision: "r-" + string(c)}}}}}
	}
	pod := func(site string, c v1.Color, ready bool, leaving bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: site + "-" + string(c) + "-x",
			Labels: map[string]string{v1.LabelSite: site, v1.LabelColor: string(c), v1.LabelRevision: "r-" + string(c)}}}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		if leaving {
			p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
			p.Finalizers = []string{"test"} // the fake keeps an object with a deletion time only with one
		}
		return p
	}
	// "new": green's one pod turns Ready (green asks for 1). "old": blue
	// was scaled to zero after its switch and its pod is leaving.
	reader := fake.NewClientBuilder().WithScheme(scheme).
		WithIndex(&corev1.Pod{}, indexSite, bySiteLabel).
		WithObjects(deployment("new", v1.Green, 1), pod("new", v1.Green, true, false),
			deployment("old", v1.Blue, 0), pod("old", v1.Blue, true, true)).
		Build()
	h := podEvents{r: &SiteDeploymentReconciler{Client: reader, pods: reader}}
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	ctx := context.Background()
	q.Add(reconcile.Request{NamespacedName: ktypes.NamespacedName{Namespace: "shop", Name: "queued-before"}})
	h.Update(ctx, event.TypedUpdateEvent[*corev1.Pod]{ObjectOld: pod("old", v1.Blue, true, false), ObjectNew: pod("old", v1.Blue, true, true)}, q)
	h.Update(ctx, event.TypedUpdateEvent[*corev1.Pod]{ObjectOld: pod("new", v1.Green, false, false), ObjectNew: pod("new", v1.Green, true, false)}, q)

	var order []string
	for q.Len() > 0 {
		r, _ := q.Get()
		order = append(order, r.Name)
		q.Done(r)
	}
	if want := []string{"new", "queued-before", "old"}; !slices.Equal(order, want) {
		t.Errorf("reconciled in order %v, want %v", order, want)
	}
}
