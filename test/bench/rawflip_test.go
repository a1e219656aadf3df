package bench

import (
	"context"
	"fmt"
	"strconv"
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
	mu sync.Mutex
	// start is when the flip of a Service to a selector value was written,
	// by "name=value".
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
	to := n.Spec.Selector["flip"]
	if to == o.Spec.Selector["flip"] {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if start, ok := r.start[n.Name+"="+to]; ok {
		r.lat = append(r.lat, now.Sub(start))
		delete(r.start, n.Name+"="+to)
	}
	return true
}

// flip writes the selector flip=to on svc and notes when.
func (r *rawTimer) flip(ctx context.Context, c client.Client, svc *corev1.Service, to string) error {
	before := svc.DeepCopy()
	svc.Spec.Selector = map[string]string{"flip": to}
	r.mu.Lock()
	r.start[svc.Name+"="+to] = time.Now()
	r.mu.Unlock()
	return c.Patch(ctx, svc, client.MergeFrom(before))
}

// seen waits up to timeout for every flip written to be seen, leaves out
// any still unseen, and returns the latencies of those seen, forgetting
// them.
func (r *rawTimer) seen(ctx context.Context, timeout time.Duration) []time.Duration {
	_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.start) == 0, nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.start)
	lat := r.lat
	r.lat = nil
	return lat
}

// createRaw creates a Service the benchmark flips itself (selector flip=0).
func createRaw(b *testing.B, ctx context.Context, c client.Client, ns, name string) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"flip": "0"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	if err := c.Create(ctx, svc); err != nil {
		b.Fatal(err)
	}
	return svc
}

// rawFlips times k selector changes written through c and observed by r.
func rawFlips(b *testing.B, ctx context.Context, c client.Client, r *rawTimer, ns string, k int) []time.Duration {
	b.Helper()
	for i := 0; i < k; i++ {
		createRaw(b, ctx, c, ns, fmt.Sprintf("raw-%d", i))
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
		if err := r.flip(ctx, c, svc, "2"); err != nil {
			b.Fatal(err)
		}
	}
	// Flips never observed within 30 s are left out of the baseline.
	return r.seen(ctx, 30*time.Second)
}

// flipsUnderLoad flips the selector of one Service of its own (raw-load)
// every interval, one write after another, until stop is called, which
// returns how long each flip took to be seen (seen) and how long the API
// server took to answer each write (written): the floor the loaded API
// server and watch set for any controller's switch, since a switch is at
// least one such write.
func flipsUnderLoad(b *testing.B, ctx context.Context, c client.Client, r *rawTimer, ns string, interval time.Duration) (stop func() (seen, written []time.Duration)) {
	b.Helper()
	svc := createRaw(b, ctx, c, ns, "raw-load")
	waitFor(b, "the raw-load Service in the watcher's view", func() bool {
		_, ok, _ := r.services.GetByKey(ns + "/raw-load")
		return ok
	})
	done := make(chan struct{})
	var written []time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for i := 1; ; i++ {
			select {
			case <-done:
				return
			case <-t.C:
			}
			at := time.Now()
			if err := r.flip(ctx, c, svc, strconv.Itoa(i)); err != nil {
				b.Errorf("raw-load flip: %v", err)
				return
			}
			written = append(written, time.Since(at))
		}
	}()
	return func() ([]time.Duration, []time.Duration) {
		close(done)
		wg.Wait()
		// Flips never observed within 10 s are left out.
		return r.seen(ctx, 10*time.Second), written
	}
}
