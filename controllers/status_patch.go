package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// object is a pointer to an API object type T.
type object[T any] interface {
	*T
	client.Object
}

// patchStatus writes the status mutate makes of obj's, when it differs, and
// remembers the write (ownWrites); obj follows only a write that succeeded.
// A merge patch: the
// controller is the only writer of status, so it needs no optimistic lock
// against spec and annotation changes. Both reconcilers write status here.
func patchStatus[T any, P object[T]](ctx context.Context, c client.Client, w *ownWrites, obj P, mutate func(P)) error {
	patched := obj.DeepCopyObject().(P)
	mutate(patched)
	if equality.Semantic.DeepEqual(obj, patched) {
		return nil
	}
	if err := c.Status().Patch(ctx, patched, client.MergeFrom(obj)); err != nil {
		return fmt.Errorf("cannot update status: %w", err)
	}
	*obj = *patched
	// What the cache drops (slimSite) is not kept with the write either:
	// the API server's answer carries the managed fields and kubectl's
	// last-applied copy of the spec, a few KB per site that a wave of
	// releases would otherwise hold for every site at once.
	obj.SetManagedFields(nil)
	delete(obj.GetAnnotations(), corev1.LastAppliedConfigAnnotation)
	w.wrote(obj)
	return nil
}
