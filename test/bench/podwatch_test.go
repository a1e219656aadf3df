package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/testenv"
)

// podWatch times switches as a user watching Pods and Services sees them:
// from the moment the last pod of a revision turns Ready to the moment the
// active Service selects that revision. It also keeps, per pod, the etcd
// revisions (resourceVersions) between which it was Ready, so that every
// flip can be checked against what was Ready when the flip was written,
// whatever order the two watches deliver events in.
type podWatch struct {
	raw      *rawTimer
	replicas int

	mu      sync.Mutex
	ready   map[string]map[string]time.Time // site/revision -> pod -> seen Ready
	allAt   map[string]time.Time            // site/revision -> last pod seen Ready
	spans   map[string][]readySpan          // site/revision -> Ready spans of its pods
	open    map[string]int                  // pod -> index of its open span in spans
	flips   []flip
	lat     []time.Duration
	resetAt time.Time
	// availAt is when a revision's Deployment first reported all its
	// replicas updated and available; toAvail and afterAvail split each
	// switch latency at that moment (kube-controller-manager's status
	// writes, then the manager).
	availAt             map[string]time.Time
	toAvail, afterAvail []time.Duration
	// beforeAvail counts the flips seen before the Deployment reported
	// its replicas available (a switch on pod readiness).
	beforeAvail int
	// flippedFirst are flips whose event came before the watcher saw all
	// the revision's pods Ready; seenFirst counts them once it did.
	flippedFirst map[string]time.Time
	seenFirst    int
}

type readySpan struct{ from, to int64 } // to 0: still Ready

type flip struct {
	key string
	rv  int64
}

func startPodWatch(ctx context.Context, cfg *rest.Config, ns string, replicas int) (*podWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 2000, 4000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	w := &podWatch{replicas: replicas, ready: map[string]map[string]time.Time{}, allAt: map[string]time.Time{},
		spans: map[string][]readySpan{}, open: map[string]int{}, availAt: map[string]time.Time{}, flippedFirst: map[string]time.Time{}}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	pods := f.Core().V1().Pods().Informer()
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.pod(o.(*corev1.Pod), false) },
		UpdateFunc: func(_, n any) { w.pod(n.(*corev1.Pod), false) },
		DeleteFunc: func(o any) {
			if p, ok := o.(*corev1.Pod); ok {
				w.pod(p, true)
			}
		},
	}); err != nil {
		return nil, err
	}
	deps := f.Apps().V1().Deployments().Informer()
	if _, err := deps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.deployment(o.(*appsv1.Deployment)) },
		UpdateFunc: func(_, n any) { w.deployment(n.(*appsv1.Deployment)) },
	}); err != nil {
		return nil, err
	}
	svcs := f.Core().V1().Services().Informer()
	w.raw = newRawTimer(svcs.GetStore())
	if _, err := svcs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(o, n any) { w.service(o.(*corev1.Service), n.(*corev1.Service)) },
	}); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return w, nil
}

func rv(o client.Object) int64 {
	v, _ := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
	return v
}

func (w *podWatch) pod(p *corev1.Pod, deleted bool) {
	now := time.Now()
	key := p.Labels[v1.LabelSite] + "/" + p.Labels[v1.LabelRevision]
	ready := !deleted && p.DeletionTimestamp == nil && podReady(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	idx, isOpen := w.open[p.Namespace+"/"+p.Name]
	switch {
	case ready && !isOpen:
		w.open[p.Namespace+"/"+p.Name] = len(w.spans[key])
		w.spans[key] = append(w.spans[key], readySpan{from: rv(p)})
		if w.ready[key] == nil {
			w.ready[key] = map[string]time.Time{}
		}
		w.ready[key][p.Name] = now
		if len(w.ready[key]) == w.replicas {
			w.allAt[key] = now
			if _, ok := w.flippedFirst[key]; ok && now.After(w.resetAt) {
				// The flip's event came first (two watch streams): the switch
				// was no later than this pod event; counted as 0.
				delete(w.flippedFirst, key)
				w.lat = append(w.lat, 0)
				w.beforeAvail++
				w.seenFirst++
			}
		}
	case !ready && isOpen:
		end := rv(p)
		if deleted {
			end = rv(p) + 1 // the deletion itself comes after the last update
		}
		w.spans[key][idx].to = end
		delete(w.open, p.Namespace+"/"+p.Name)
		delete(w.ready[key], p.Name)
	}
}

// deployment records when a revision's Deployment first says all its
// replicas are updated and available.
func (w *podWatch) deployment(d *appsv1.Deployment) {
	now := time.Now()
	want := int32(w.replicas)
	s := d.Status
	if d.Status.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.AvailableReplicas != want || s.Replicas != want {
		return
	}
	key := d.Labels[v1.LabelSite] + "/" + d.Spec.Template.Labels[v1.LabelRevision]
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.availAt[key]; !ok {
		w.availAt[key] = now
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (w *podWatch) service(o, n *corev1.Service) {
	now := time.Now()
	if w.raw.observe(o, n, now) || n.Labels[v1.LabelSite] == "" || n.Name != n.Labels[v1.LabelSite] {
		return // only the active Service of a site
	}
	to := n.Spec.Selector[v1.LabelRevision]
	if to == "" || to == o.Spec.Selector[v1.LabelRevision] {
		return
	}
	key := n.Name + "/" + to
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flips = append(w.flips, flip{key: key, rv: rv(n)})
	at, ok := w.allAt[key]
	if !ok {
		w.flippedFirst[key] = now
	}
	if ok && at.After(w.resetAt) {
		w.lat = append(w.lat, now.Sub(at))
		if avail, ok := w.availAt[key]; ok && !avail.Before(at) {
			w.toAvail = append(w.toAvail, avail.Sub(at))
			w.afterAvail = append(w.afterAvail, now.Sub(avail))
		} else if !ok {
			w.beforeAvail++
		}
	}
}

func (w *podWatch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lat, w.toAvail, w.afterAvail, w.beforeAvail, w.seenFirst, w.resetAt = nil, nil, nil, 0, 0, time.Now()
}

// results are the switch latencies since reset, and every flip (since the
// start) to a revision that did not have all its pods Ready at the flip's
// etcd revision.
func (w *podWatch) results() (lat []time.Duration, unsafe []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.flips {
		readyAt := 0
		for _, s := range w.spans[f.key] {
			if s.from < f.rv && (s.to == 0 || s.to > f.rv) {
				readyAt++
			}
		}
		if readyAt < w.replicas {
			unsafe = append(unsafe, fmt.Sprintf("%s at resourceVersion %d with %d pod(s) Ready", f.key, f.rv, readyAt))
		}
	}
	return append([]time.Duration(nil), w.lat...), unsafe
}

// notLive lists the sites whose active Service does not select their
// status.activeRevision, or whose revision does not have all its pods Ready
// in the watcher's view now: a release that ended Healthy but not live.
func (w *podWatch) notLive(b *testing.B, ctx context.Context, c client.Client, ns string, n int) []string {
	b.Helper()
	sites := &v1.SiteDeploymentList{}
	if err := c.List(ctx, sites, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	svcs := &corev1.ServiceList{}
	if err := c.List(ctx, svcs, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	selected := map[string]string{}
	for _, s := range svcs.Items {
		selected[s.Name] = s.Spec.Selector[v1.LabelRevision]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range sites.Items {
		rev := s.Status.ActiveRevision
		ready := 0
		for _, span := range w.spans[s.Name+"/"+rev] {
			if span.to == 0 {
				ready++
			}
		}
		if selected[s.Name] != rev || ready < w.replicas {
			out = append(out, fmt.Sprintf("%s: active revision %s, Service selects %q, %d pod(s) Ready", s.Name, rev, selected[s.Name], ready))
		}
	}
	if len(sites.Items) != n {
		out = append(out, fmt.Sprintf("%d sites listed, %d expected", len(sites.Items), n))
	}
	return out
}

// installCRDs creates the project's CRDs and waits until they are served.
func installCRDs(b *testing.B, ctx context.Context, c client.Client) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no CRDs under config/crd/bases: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(raw, crd); err != nil {
			b.Fatal(err)
		}
		if err := c.Create(ctx, crd); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, "the CRDs served", func() bool {
		return c.List(ctx, &v1.SiteDeploymentList{}) == nil && c.List(ctx, &v1.DatabaseRefreshList{}) == nil
	})
}
