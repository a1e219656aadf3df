package controllers

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The site of a Deployment that has just become fully available is
// reconciled before the sites queued earlier; the other updates of a
// Deployment that change what the planner reads keep their turn, and the
// ones that change nothing it reads queue nothing.
func TestAnAvailableCandidateIsReconciledFirst(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(v1.GroupVersion.WithKind("SiteDeployment"), meta.RESTScopeNamespace)
	h := availableFirst{inner: handler.EnqueueRequestForOwner(scheme, mapper, &v1.SiteDeployment{}, handler.OnlyControllerOwner())}
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	deployment := func(owner string, rv string, available int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: owner + "-green", ResourceVersion: rv, Generation: 1,
				Labels:          map[string]string{v1.LabelRevision: "r2"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: v1.GroupVersion.String(), Kind: "SiteDeployment", Name: owner, UID: "u-" + types.UID(owner), Controller: ptr.To(true)}}},
			Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: available}}
	}
	ctx := context.Background()
	update := func(owner string, from, to int32) {
		h.Update(ctx, event.UpdateEvent{ObjectOld: deployment(owner, "1", from), ObjectNew: deployment(owner, "2", to)}, q)
	}
	update("a", 0, 1) // one pod of two: not yet
	update("b", 1, 1) // no change the planner reads
	update("c", 1, 2) // all available: its switch is due
	update("d", 2, 2) // still available: nothing new
	stopping := deployment("e", "2", 0)
	stopping.Spec.Replicas = ptr.To[int32](0)
	h.Update(ctx, event.UpdateEvent{ObjectOld: deployment("e", "1", 0), ObjectNew: stopping}, q) // scaled to zero: its pods' end is awaited

	var order []string
	for q.Len() > 0 {
		r, _ := q.Get()
		order = append(order, r.Name)
		q.Done(r)
	}
	if want := []string{"c", "a", "e"}; !slices.Equal(order, want) {
		t.Errorf("reconciled in order %v, want %v", order, want)
	}
}
