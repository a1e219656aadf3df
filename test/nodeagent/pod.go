package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// podRunner owns one pod from its first sight to its deletion: the sandbox
// (addresses, files, volumes), the container processes and the status.
type podRunner struct {
	a       *Agent
	key     string
	uid     types.UID
	updates chan struct{}
	changed chan struct{}

	mu      sync.Mutex
	pod     *corev1.Pod
	removed bool // deleted from the API (not just marked)
	grace   time.Duration

	idx       int
	lo, podIP string
	dir       string
	volumes   map[string]string // volume name -> host directory
	claimed   []string          // host mount targets created for this pod
	startTime metav1.Time
	inits     []*containerRunner
	ctrs      []*containerRunner
	setupErr  string
}

func newPodRunner(a *Agent, pod *corev1.Pod) *podRunner {
	return &podRunner{
		a: a, key: pod.Namespace + "/" + pod.Name, uid: pod.UID, pod: pod.DeepCopy(),
		updates: make(chan struct{}, 1), changed: make(chan struct{}, 1), idx: -1,
	}
}

func (r *podRunner) update(pod *corev1.Pod) {
	r.mu.Lock()
	r.pod = pod.DeepCopy()
	r.mu.Unlock()
	notify(r.updates)
}

func (r *podRunner) gone() {
	r.mu.Lock()
	r.removed = true
	r.mu.Unlock()
	notify(r.updates)
}

func (r *podRunner) latest() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pod
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run drives the pod: sandbox, init containers in order, then the containers
// side by side until they are all done, the pod is deleted or ctx ends.
func (r *podRunner) run(ctx context.Context) {
	log := r.a.opts.Log.WithValues("pod", r.key)
	podCtx, stop := context.WithCancel(ctx)
	defer stop()
	defer r.cleanup()
	r.startTime = metav1.Now()
	if r.deleting() {
		r.finalize(ctx) // deleted before it ever ran
		return
	}
	for _, c := range r.latest().Spec.InitContainers {
		r.inits = append(r.inits, newContainerRunner(r, c, true))
	}
	for _, c := range r.latest().Spec.Containers {
		r.ctrs = append(r.ctrs, newContainerRunner(r, c, false))
	}

	// The sandbox: retried until it can be built (a missing Secret may appear).
	for {
		err := r.setup(podCtx)
		if err == nil {
			break
		}
		r.setupErr = err.Error()
		log.Info("pod not started yet", "reason", err.Error())
		r.writeStatus(ctx)
		if r.waitOrDeleted(ctx, 2*time.Second) {
			r.finalize(ctx)
			return
		}
	}
	r.setupErr = ""
	r.writeStatus(ctx)
	log.Info("pod started", "loopback", r.lo)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range r.inits {
			c.loop(podCtx)
			if !c.succeeded() {
				return
			}
		}
		var wg sync.WaitGroup
		for _, c := range r.ctrs {
			wg.Add(1)
			go func() { defer wg.Done(); c.loop(podCtx) }()
		}
		wg.Wait()
	}()

	for {
		select {
		case <-r.changed:
			r.writeStatus(ctx)
		case <-r.updates:
			if r.deleting() {
				r.setGrace(false)
				stop()
				<-done
				r.finalize(ctx)
				return
			}
		case <-done:
			if ctx.Err() == nil {
				r.writeStatus(ctx) // terminal now
				log.Info("pod finished", "phase", r.phase())
			}
			return
		case <-ctx.Done():
			r.setGrace(true)
			stop()
			<-done
			return
		}
	}
}

// waitOrDeleted waits d and reports whether the pod is being deleted or ctx ended.
func (r *podRunner) waitOrDeleted(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-r.updates:
			if r.deleting() {
				return true
			}
		case <-t.C:
			return false
		}
	}
}

func (r *podRunner) deleting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removed || r.pod.DeletionTimestamp != nil
}

// setGrace records how long stopped containers get between SIGTERM and SIGKILL.
func (r *podRunner) setGrace(shutdown bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := int64(30)
	if r.pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *r.pod.Spec.TerminationGracePeriodSeconds
	}
	if r.pod.DeletionGracePeriodSeconds != nil {
		g = *r.pod.DeletionGracePeriodSeconds
	}
	if shutdown && g > 3 {
		g = 3 // the agent is going away: do not hold the whole cluster up
	}
	r.grace = time.Duration(g) * time.Second
}

func (r *podRunner) stopGrace() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.grace
}

// finalize removes a pod whose containers have stopped, as the kubelet does
// once a graceful deletion has been carried out.
func (r *podRunner) finalize(ctx context.Context) {
	r.mu.Lock()
	removed := r.removed
	r.mu.Unlock()
	if removed || ctx.Err() != nil {
		return
	}
	pod := r.latest()
	err := r.a.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &r.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		r.a.opts.Log.Error(err, "cannot remove deleted pod", "pod", r.key)
	}
}

// setup allocates the pod's addresses, records the loopback one on the pod,
// and materialises its files and volumes.
func (r *podRunner) setup(ctx context.Context) error {
	pod := r.latest()
	if r.idx < 0 {
		idx, err := r.a.podIPs.allocate()
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.idx, r.lo, r.podIP = idx, r.a.podIPs.loopback(idx), fakePodIP(idx)
		r.mu.Unlock()
	}
	if pod.Annotations[LoopbackAnnotation] != r.lo {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{LoopbackAnnotation: r.lo}}})
		if _, err := r.a.cs.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("cannot record loopback address: %w", err)
		}
	}
	dir := filepath.Join(r.a.opts.StateDir, "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID)[:8])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create pod dir: %w", err)
	}
	r.mu.Lock()
	r.dir = dir
	r.mu.Unlock()
	r.a.mu.Lock()
	r.a.podDirs[r.key] = dir
	r.a.mu.Unlock()
	if err := r.writeHosts(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "resolv.conf"), []byte(resolvConf(pod.Namespace)), 0o644); err != nil {
		return fmt.Errorf("cannot write resolv.conf: %w", err)
	}
	vols, err := r.materializeVolumes(ctx, pod)
	if err != nil {
		return err
	}
	r.volumes = vols
	for _, c := range append(append([]*containerRunner{}, r.inits...), r.ctrs...) {
		if err := c.prepare(); err != nil {
			return err
		}
	}
	return nil
}

// cleanup releases what the pod held on this machine once its processes are gone.
func (r *podRunner) cleanup() {
	r.a.mounts.release(r.claimed)
	r.claimed = nil
	if r.idx >= 0 {
		r.a.podIPs.release(r.idx)
	}
}

// writeHosts (re)writes the pod's /etc/hosts in place, so that a running
// pod sees Services created after it started.
func (r *podRunner) writeHosts() error {
	r.mu.Lock()
	pod, dir, lo := r.pod, r.dir, r.lo
	r.mu.Unlock()
	if dir == "" {
		return nil
	}
	data := renderHosts(pod.Name, pod.Namespace, lo, r.a.proxy.entries())
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(data), 0o644); err != nil {
		return fmt.Errorf("cannot write hosts: %w", err)
	}
	return nil
}

var errNotRunnable = errors.New("not runnable")
