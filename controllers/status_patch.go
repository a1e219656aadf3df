package controllers

import (
	"context"
	"fmt"

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
	w.wrote(obj)
	return nil
}
