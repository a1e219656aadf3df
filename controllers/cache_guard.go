package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// ownWrites remembers each object's last status write by its controller
// (the API server's answer to it), so that a reconcile started from a
// cache that has not seen that write yet does not decide again on an older
// status (which would repeat events, restarts, or forget history): the
// SiteDeployment controller decides on the object it wrote (latest), the
// DatabaseRefresh controller waits for the write's watch event (behind).
// An entry lives until the cache has caught up with it.
type ownWrites struct{ m sync.Map }

func (w *ownWrites) wrote(obj client.Object) {
	w.m.Store(types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}, obj.DeepCopyObject().(client.Object))
}

func (w *ownWrites) forget(key types.NamespacedName) { w.m.Delete(key) }

// behind tells whether the cached obj predates our last write. Resource
// versions are etcd revisions; comparing them as numbers is what the API
// server's watch cache does. One that does not parse is never "behind".
func (w *ownWrites) behind(obj client.Object) bool { return w.latest(obj) != nil }

// latest is our last write of obj when the cached obj predates it (a copy
// of it, as the API server answered the write); nil, forgetting the write,
// once the cache has caught up.
func (w *ownWrites) latest(obj client.Object) client.Object {
	key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
	v, ok := w.m.Load(key)
	if !ok {
		return nil
	}
	written := v.(client.Object)
	last, err1 := strconv.ParseUint(written.GetResourceVersion(), 10, 64)
	seen, err2 := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err1 == nil && err2 == nil && seen < last {
		return written.DeepCopyObject().(client.Object)
	}
	w.m.CompareAndDelete(key, v)
	return nil
}

// errCacheBehind: an object the cache did not show already exists, so the
// decision was made on a view older than the API server's. The reconcile
// is retried shortly, without logging an error: the watch catches up.
var errCacheBehind = errors.New("the cache has not seen an object that exists yet")

func cacheBehind(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return errors.Join(errCacheBehind, err)
	}
	return err
}

// createFailed explains the error of creating obj. An object that already
// exists was not in the cache, which keeps only objects labelled with their
// site (CacheOptions): either the cache is behind (errCacheBehind, retried
// shortly), or the object is someone else's (an error a person resolves),
// or it is the site's own with its label removed (the label is put back,
// so the cache sees it). stored is an empty object of obj's kind.
func (r *SiteDeploymentReconciler) createFailed(ctx context.Context, site *v1.SiteDeployment, stored, obj client.Object, err error) error {
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	if gerr := r.Reader.Get(ctx, client.ObjectKeyFromObject(obj), stored); gerr != nil {
		return cacheBehind(err)
	}
	if !metaOwnedBy(stored, site) {
		return fmt.Errorf("%s exists and is not owned by SiteDeployment %s: rename or delete it", obj.GetName(), site.Name)
	}
	if _, ok := stored.GetLabels()[v1.LabelSite]; !ok {
		patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, v1.LabelSite, site.Name))
		if perr := r.Patch(ctx, stored, patch); perr != nil {
			return fmt.Errorf("cannot label %s with its site: %w", obj.GetName(), perr)
		}
	}
	return cacheBehind(err)
}

// cacheBehindRetry is how soon a reconcile that met errCacheBehind runs again.
const cacheBehindRetry = 200 * time.Millisecond
