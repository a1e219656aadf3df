// Package nodeagent is the kubelet of the local cluster: it registers a Node,
// keeps it Ready with a Lease heartbeat, and runs every pod bound to it as
// local processes (one per container) in a private mount namespace, each pod
// on its own loopback address. It writes the pods' real phase, readiness,
// exit codes and termination messages back to the API, provisions
// PersistentVolumeClaims as local directories, and serves every Service on a
// loopback address with a userspace TCP proxy to the ready endpoints (a
// miniature kube-proxy) whose names resolve through a per-pod /etc/hosts.
//
// Network rule: every address it listens on or dials is in 127.0.0.0/8. The
// pod IP it reports (10.244.0.0/16, required because the API server rejects
// loopback EndpointSlice addresses) is never dialled; the loopback address is
// on the pod as the LoopbackAnnotation.
package nodeagent

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

const (
	// LoopbackAnnotation holds the loopback address a pod's processes listen
	// on, or the one the agent's proxy serves a Service on.
	LoopbackAnnotation = "understudy.dev/loopback-ip"
	// LocalImagePrefix marks images that stand for a program in the image bin dir.
	LocalImagePrefix = "local/"
	// DefaultNodeName is the Node the agent registers unless told otherwise.
	DefaultNodeName = "understudy-local"
)

// Options configure an Agent.
type Options struct {
	NodeName string
	// StateDir holds the pods' volumes, logs and generated files.
	StateDir string
	// ImageBinDir holds the programs that `local/<name>` images stand for.
	ImageBinDir string
	// Marker is set as localcluster.MarkerEnv in every process the agent starts.
	Marker    string
	MarkerEnv string
	Log       logr.Logger
}

// Agent runs the pods bound to its Node.
type Agent struct {
	opts    Options
	cs      kubernetes.Interface
	apiHost string
	apiPort string

	podIPs  *ipAllocator
	mounts  *mountpoints
	images  *images
	proxy   *serviceProxy
	factory informers.SharedInformerFactory

	ready    chan struct{}
	logsPort int
	mu       sync.Mutex
	runners  map[types.UID]*podRunner
	podDirs  map[string]string // namespace/name -> pod dir, kept after the pod ends for its logs
	wg       sync.WaitGroup
}

// New prepares an agent for the cluster cfg points at.
func New(cfg *rest.Config, opts Options) (*Agent, error) {
	if opts.NodeName == "" {
		opts.NodeName = DefaultNodeName
	}
	if opts.StateDir == "" {
		return nil, fmt.Errorf("cannot start the node agent: no state dir")
	}
	dir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, err
	}
	opts.StateDir = dir
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot create client: %w", err)
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("cannot parse API server address: %w", err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("cannot parse API server address %q: %w", u.Host, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("API server %s is not on loopback: pods may only dial loopback", host)
	}
	a := &Agent{
		opts: opts, cs: cs, apiHost: host, apiPort: port,
		podIPs:  newIPAllocator(1).anywhere(),
		mounts:  newMountpoints(),
		images:  &images{binDir: opts.ImageBinDir, store: filepath.Join(dir, "images")},
		runners: map[types.UID]*podRunner{},
		ready:   make(chan struct{}),
		podDirs: map[string]string{},
	}
	a.proxy = newServiceProxy(a)
	return a, nil
}

// Run registers the node and runs pods until ctx ends; then it stops every
// process it started (the pods stay in the API) and returns.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(a.opts.StateDir, "pods"), 0o755); err != nil {
		return fmt.Errorf("cannot create state dir: %w", err)
	}
	var err error
	if a.logsPort, err = a.serveLogs(ctx); err != nil {
		return fmt.Errorf("cannot serve container logs: %w", err)
	}
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	if err := a.ensureStorageClass(ctx); err != nil {
		return err
	}

	a.factory = informers.NewSharedInformerFactory(a.cs, 10*time.Minute)
	nodePods := informers.NewSharedInformerFactoryWithOptions(a.cs, 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.opts.NodeName).String()
		}))
	podInf := nodePods.Core().V1().Pods().Informer()
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.syncPod(ctx, o) },
		UpdateFunc: func(_, o any) { a.syncPod(ctx, o) },
		DeleteFunc: func(o any) { a.podDeleted(o) },
	}); err != nil {
		return err
	}
	if err := a.proxy.setup(ctx, a.factory, nodePods.Core().V1().Pods().Lister()); err != nil {
		return err
	}
	if err := a.setupProvisioner(ctx, a.factory); err != nil {
		return err
	}
	a.factory.Start(ctx.Done())
	nodePods.Start(ctx.Done())
	syncCtx, cancelSync := context.WithTimeout(ctx, time.Minute)
	defer cancelSync()
	var unsynced []string
	for typ, ok := range a.factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			unsynced = append(unsynced, typ.String())
		}
	}
	for typ, ok := range nodePods.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			unsynced = append(unsynced, typ.String()+" (this node's)")
		}
	}
	if len(unsynced) > 0 && ctx.Err() == nil {
		a.factory.Shutdown()
		nodePods.Shutdown()
		return fmt.Errorf("cannot start the node agent: no cache of %v", unsynced)
	}
	a.opts.Log.Info("node agent running", "node", a.opts.NodeName)
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); a.heartbeat(ctx) }()
	close(a.ready)

	<-ctx.Done()
	a.wg.Wait() // runners stop their processes when ctx ends
	a.factory.Shutdown()
	nodePods.Shutdown()
	a.proxy.close()
	<-hbDone
	return nil
}

// Ready is closed once the agent watches its pods and Services.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// syncPod hands the latest version of a pod to its runner, starting one for a
// new pod.
func (a *Agent) syncPod(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.runners[pod.UID]; ok {
		r.update(pod)
		return
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return // finished: nothing runs, and the API server deletes such pods at once
	}
	r := newPodRunner(a, pod)
	a.runners[pod.UID] = r
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		r.run(ctx)
		a.mu.Lock()
		delete(a.runners, pod.UID)
		a.mu.Unlock()
	}()
}

func (a *Agent) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.runners[pod.UID]; ok {
		r.gone()
	}
}

// forEachRunner calls f on every live pod runner.
func (a *Agent) forEachRunner(f func(*podRunner)) {
	a.mu.Lock()
	rs := make([]*podRunner, 0, len(a.runners))
	for _, r := range a.runners {
		rs = append(rs, r)
	}
	a.mu.Unlock()
	for _, r := range rs {
		f(r)
	}
}

// ServiceAddress is the loopback address the agent serves a Service on, or ""
// when it serves none.
func (a *Agent) ServiceAddress(namespace, name string) string {
	return a.proxy.address(namespace, name)
}
