package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// rawTimer times selector flips that the benchmark writes itself (Services
// named raw-*): the floor the API server and the watch impose, the baseline
// of a switch.
type rawTimer struct {
	mu    sync.Mutex
	start map[string]time.Time
	lat   []time.Duration
	// services is the watcher's view of the namespace's Services.
	services cache.Store
}

func newRawTimer(services cache.Store) *rawTimer {
	return &rawTimer{start: map[string]time.Time{}, services: services}
}

// observe records a raw flip seen at now; it reports whether n is a raw
// Service (so that the caller ignores it).
func (r *rawTimer) observe(o, n *corev1.Service, now time.Time) bool {
	if !strings.HasPrefix(n.Name, "raw-") {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if start, ok := r.start[n.Name]; ok && n.Spec.Selector["flip"] == "2" && o.Spec.Selector["flip"] != "2" {
		r.lat = append(r.lat, now.Sub(start))
	}
	return true
}

// rawFlips times k selector changes written through c and observed by r.
func rawFlips(b *testing.B, ctx context.Context, c client.Client, r *rawTimer, ns string, k int) []time.Duration {
	b.Helper()
	for i := 0; i < k; i++ {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("raw-%d", i), Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"flip": "1"}, Ports: []corev1.ServicePort{{Port: 80}}}}
		if err := c.Create(ctx, svc); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, "the raw Services in the watcher's view", func() bool {
		_, ok, _ := r.services.GetByKey(fmt.Sprintf("%s/raw-%d", ns, k-1))
		return ok
	})
	for i := 0; i < k; i++ {
		svc := &corev1.Service{}
		if err := c.Get(ctx, keyOf(ns, fmt.Sprintf("raw-%d", i)), svc); err != nil {
			b.Fatal(err)
		}
		before := svc.DeepCopy()
		svc.Spec.Selector = map[string]string{"flip": "2"}
		r.mu.Lock()
		r.start[svc.Name] = time.Now()
		r.mu.Unlock()
		if err := c.Patch(ctx, svc, client.MergeFrom(before)); err != nil {
			b.Fatal(err)
		}
	}
	// Flips never observed within 30 s are left out of the baseline.
	_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.lat) == k, nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.lat...)
}
