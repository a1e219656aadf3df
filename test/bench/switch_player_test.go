package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/localcluster"
	"github.com/understudy-dev/understudy/test/testenv"
)

func keyOf(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// player plays the Deployment controller (every Deployment becomes fully
// available as soon as its spec changes) and watches Services to time switches.
type player struct {
	cs    kubernetes.Interface
	mu    sync.Mutex
	avail map[string]time.Time // deployment/revision -> made available
	lat   []time.Duration
	raw   *rawTimer
}

func startPlayer(ctx context.Context, env *testenv.Env, ns string) (*player, error) {
	cfg := *env.Config
	cfg.QPS, cfg.Burst = 2000, 4000
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return nil, err
	}
	p := &player{cs: cs, avail: map[string]time.Time{}}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	queue := make(chan string, 100000)
	enqueue := func(obj any) {
		if d, ok := obj.(*appsv1.Deployment); ok && !available(d) {
			queue <- d.Name
		}
	}
	if _, err := f.Apps().V1().Deployments().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) },
	}); err != nil {
		return nil, err
	}
	svcInformer := f.Core().V1().Services().Informer()
	p.raw = newRawTimer(svcInformer.GetStore())
	if _, err := svcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(o, n any) { p.serviceChanged(o.(*corev1.Service), n.(*corev1.Service)) },
	}); err != nil {
		return nil, err
	}
	for i := 0; i < 8; i++ {
		go func() {
			for name := range queue {
				p.makeAvailable(ctx, ns, name)
			}
		}()
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return p, nil
}

func available(d *appsv1.Deployment) bool {
	n := *d.Spec.Replicas
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.Replicas == n && s.UpdatedReplicas == n && s.AvailableReplicas == n
}

func (p *player) makeAvailable(ctx context.Context, ns, name string) {
	for try := 0; try < 20; try++ {
		d, err := p.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || available(d) {
			return
		}
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if _, err := p.cs.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err == nil {
			if n > 0 {
				p.mu.Lock()
				p.avail[name+"/"+d.Spec.Template.Labels[v1.LabelRevision]] = time.Now()
				p.mu.Unlock()
			}
			return
		} else if !apierrors.IsConflict(err) {
			return
		}
	}
}

func (p *player) serviceChanged(o, n *corev1.Service) {
	now := time.Now()
	if p.raw.observe(o, n, now) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if strings.HasSuffix(n.Name, "-preview") || o.Spec.Selector[v1.LabelRevision] == n.Spec.Selector[v1.LabelRevision] {
		return
	}
	dep := n.Name + "-" + n.Spec.Selector[v1.LabelColor]
	if at, ok := p.avail[dep+"/"+n.Spec.Selector[v1.LabelRevision]]; ok {
		p.lat = append(p.lat, now.Sub(at))
	}
}

func (p *player) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lat = nil
}

func (p *player) latencies() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.lat...)
}

// managerProcess is the operator running as its own process, as in a cluster.
type managerProcess struct {
	cmd     *exec.Cmd
	metrics string
	pprof   string // base URL of /debug/pprof
}

func startManager(b *testing.B, bin string, kubeconfigData []byte) (*managerProcess, error) {
	dir := b.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigData, 0o600); err != nil {
		return nil, err
	}
	addr, err := localcluster.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := localcluster.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--metrics-bind-address", addr, "--pprof-bind-address", pprofAddr,
		"--health-probe-bind-address", "0", "--zap-log-level", "error"}
	args = append(args, strings.Fields(os.Getenv("BENCH_MANAGER_ARGS"))...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &managerProcess{cmd: cmd, metrics: "http://" + addr + "/metrics", pprof: "http://" + pprofAddr}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(m.metrics); err == nil {
			resp.Body.Close()
			return m, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.stop()
	return nil, fmt.Errorf("manager metrics did not come up on %s", addr)
}

func (m *managerProcess) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	_ = m.cmd.Wait()
}

// writes sums the manager's client-go requests that change something.
func (m *managerProcess) writes(b *testing.B) int64 {
	return m.metric(b, "rest_client_requests_total{", `method="POST"`, `method="PUT"`, `method="PATCH"`, `method="DELETE"`)
}

// quiesce waits until the manager has written nothing for 3 s (at most
// 2 minutes).
func (m *managerProcess) quiesce(b *testing.B) {
	last, still := m.writes(b), 0
	for deadline := time.Now().Add(2 * time.Minute); still < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		if now := m.writes(b); now != last {
			last, still = now, 0
		} else {
			still++
		}
	}
}

// requests counts the manager's client-go requests of every kind.
func (m *managerProcess) requests(b *testing.B) int64 {
	return m.metric(b, "rest_client_requests_total{", `method=`)
}

// cpuSeconds is the manager's user and system CPU time so far.
func (m *managerProcess) cpuSeconds(b *testing.B) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

// reconciles counts the SiteDeployment reconciles the manager finished.
func (m *managerProcess) reconciles(b *testing.B) int64 {
	return m.metric(b, "controller_runtime_reconcile_total{", `controller="sitedeployment"`)
}

// metric sums the samples of the manager's metrics whose line starts with
// prefix and contains any of labels.
func (m *managerProcess) metric(b *testing.B, prefix string, labels ...string) int64 {
	b.Helper()
	v, err := m.metricSum(prefix, labels...)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func (m *managerProcess) metricSum(prefix string, labels ...string) (int64, error) {
	var total int64
	err := m.scan(func(line string) {
		if !strings.HasPrefix(line, prefix) {
			return
		}
		for _, l := range labels {
			if strings.Contains(line, l) {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				total += int64(v)
				return
			}
		}
	})
	return total, err
}

// scan calls f with each line of the manager's metrics.
func (m *managerProcess) scan(f func(string)) error {
	req, err := http.NewRequest(http.MethodGet, m.metrics, nil)
	if err != nil {
		return err
	}
	// Uncompressed: compressing every scrape costs the manager CPU.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f(sc.Text())
	}
	return sc.Err()
}

// peakRSS is the manager's VmHWM in KB.
func (m *managerProcess) peakRSS(b *testing.B) int64 {
	v, err := m.vmHWM()
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// vmHWM reads the manager's VmHWM (KB) from /proc.
func (m *managerProcess) vmHWM() (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strconv.ParseInt(strings.Fields(line)[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", m.cmd.Process.Pid)
}
