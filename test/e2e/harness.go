//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/understudy-dev/understudy/test/localcluster"
	"github.com/understudy-dev/understudy/test/nodeagent"
	"github.com/understudy-dev/understudy/test/poll"
)

// Env is the running local cluster shared by the package's tests.
type Env struct {
	Cluster    *localcluster.Cluster
	Agent      *nodeagent.Agent
	Config     *rest.Config
	Client     kubernetes.Interface
	Kubeconfig string
	// Root is the module root; BinDir holds the programs built for the tests,
	// which `local/<name>` images run.
	Root, BinDir string
	// StartDuration is how long the control plane and node agent took to start.
	StartDuration time.Duration

	stopAgent context.CancelFunc
	agentDone chan error
	build     sync.Mutex
	built     map[string]string
}

// env is set by TestMain for the tests of this package.
var env *Env

// StartEnv builds the programs the pods run (demo-site), starts the control
// plane in dir and runs the node agent in this process.
func StartEnv(dir string) (*Env, error) {
	root, err := localcluster.ModuleRoot()
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root, BinDir: filepath.Join(dir, "bin"), built: map[string]string{}}
	if _, err := e.Build("./test/cmd/demo-site"); err != nil {
		return nil, err
	}
	start := time.Now()
	c, err := localcluster.Start(context.Background(), localcluster.Options{Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		return nil, err
	}
	e.Cluster, e.Kubeconfig, e.Config = c, c.Kubeconfig, c.RESTConfig()
	if e.Client, err = kubernetes.NewForConfig(e.Config); err != nil {
		c.Stop()
		return nil, err
	}
	e.Agent, err = nodeagent.New(e.Config, nodeagent.Options{
		StateDir: filepath.Join(c.Dir, "node"), ImageBinDir: e.BinDir,
		Marker: c.Marker, MarkerEnv: localcluster.MarkerEnv,
		Log: zap.New(zap.UseDevMode(true), zap.WriteTo(mustCreate(c.LogPath("nodeagent")))),
	})
	if err != nil {
		c.Stop()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stopAgent, e.agentDone = cancel, make(chan error, 1)
	go func() { e.agentDone <- e.Agent.Run(ctx) }()
	select {
	case <-e.Agent.Ready():
	case err := <-e.agentDone:
		e.agentDone <- err
		e.Stop()
		return nil, fmt.Errorf("node agent stopped: %w", err)
	case <-time.After(90 * time.Second):
		e.Stop()
		return nil, fmt.Errorf("node agent not ready after 90s: see %s", c.LogPath("nodeagent"))
	}
	if err := e.waitNodeReady(30 * time.Second); err != nil {
		e.Stop()
		return nil, err
	}
	e.StartDuration = time.Since(start)
	return e, nil
}

// Stop stops the node agent (and with it every pod process), then the
// control plane, and returns the pids of any process left running.
func (e *Env) Stop() []int {
	if e.stopAgent != nil {
		e.stopAgent()
		<-e.agentDone
		e.stopAgent = nil
	}
	e.Cluster.Stop()
	return localcluster.Leftovers(e.Cluster.Marker)
}

func (e *Env) waitNodeReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, err := e.Client.CoreV1().Nodes().Get(context.Background(), nodeagent.DefaultNodeName, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("node %s not Ready within %s", nodeagent.DefaultNodeName, timeout)
}

// Build builds a main package of the module (e.g. "./cmd/manager") into
// BinDir once and returns the binary's path.
func (e *Env) Build(pkg string) (string, error) {
	e.build.Lock()
	defer e.build.Unlock()
	if p, ok := e.built[pkg]; ok {
		return p, nil
	}
	out := filepath.Join(e.BinDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = e.Root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cannot build %s: %w\n%s", pkg, err, b)
	}
	e.built[pkg] = out
	return out, nil
}

// Manager is the operator's manager running against the cluster.
type Manager struct {
	*localcluster.Process
	// HealthAddr is the loopback host:port of its /healthz and /readyz.
	HealthAddr string
}

// RunManager builds ./cmd/manager and runs it against the cluster, logging to
// the cluster's logs dir, until the test ends. It listens on loopback only
// (metrics off, probes on a free loopback port); args come after those
// defaults and win over them.
func (e *Env) RunManager(t testing.TB, args ...string) *Manager {
	t.Helper()
	return e.RunManagerEnv(t, nil, args...)
}

// RunManagerEnv is RunManager with more environment variables.
func (e *Env) RunManagerEnv(t testing.TB, environ []string, args ...string) *Manager {
	t.Helper()
	bin, err := e.Build("./cmd/manager")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health := l.Addr().String()
	l.Close()
	argv := append([]string{bin, "-kubeconfig=" + e.Kubeconfig, "-metrics-bind-address=0",
		"-health-probe-bind-address=" + health}, args...)
	p, err := localcluster.StartProcess("manager", e.Cluster.LogPath("manager"), e.Cluster.Marker,
		append([]string{"KUBECONFIG=" + e.Kubeconfig}, environ...), argv...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	return &Manager{Process: p, HealthAddr: health}
}

// WaitReady waits for the manager's /readyz to answer 200.
func (m *Manager) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	Eventually(t, timeout, "manager ready at "+m.HealthAddr, func() (bool, error) {
		select {
		case <-m.Exited():
			t.Fatalf("manager exited: %v (see its log)", m.Err())
		default:
		}
		resp, err := client.Get("http://" + m.HealthAddr + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("status %d", resp.StatusCode)
	})
}

// Kubectl runs kubectl against the cluster and returns its combined output,
// failing the test on error.
func (e *Env) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *Env) kubectl(args ...string) (string, error) {
	cmd := exec.Command("kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	cmd.Dir = e.Root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// InstallCRDs applies the project's CRDs (server-side: they are too large
// for the last-applied annotation) and waits until they are established.
func (e *Env) InstallCRDs(t testing.TB) {
	t.Helper()
	e.Kubectl(t, "apply", "--server-side", "-f", "config/crd/bases")
	Eventually(t, 60*time.Second, "CRDs established", func() (bool, error) {
		out, err := e.kubectl("wait", "--for=condition=Established", "--timeout=5s", "-f", "config/crd/bases")
		return err == nil, fmt.Errorf("%v: %s", err, out)
	})
}

// Namespace creates a namespace for one test (named after it) and deletes it
// when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + "-" + strconv.FormatInt(time.Now().UnixNano()%100000, 10)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := e.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.DumpNamespace(t, name)
		}
		_ = e.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// Pods are admitted only once the namespace's default service account exists.
	Eventually(t, 30*time.Second, "default service account in "+name, func() (bool, error) {
		_, err := e.Client.CoreV1().ServiceAccounts(name).Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil, nil
	})
	return name
}

// ServiceEndpoints resolves a Service port the way clients of the local
// cluster must: EndpointSlices -> ready endpoints -> targetRef pod -> the
// pod's loopback address (nodeagent.LoopbackAnnotation), never the pod IP.
// It returns host:port pairs.
func (e *Env) ServiceEndpoints(ctx context.Context, ns, svc, portName string) ([]string, error) {
	slices, err := e.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sl := range slices.Items {
		port := int32(-1)
		for _, p := range sl.Ports {
			if p.Port != nil && (portName == "" || p.Name != nil && *p.Name == portName) {
				port = *p.Port
			}
		}
		if port < 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || ep.TargetRef == nil {
				continue
			}
			pod, err := e.Client.CoreV1().Pods(ns).Get(ctx, ep.TargetRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			lo := pod.Annotations[nodeagent.LoopbackAnnotation]
			if lo == "" {
				return nil, fmt.Errorf("pod %s/%s has no loopback address", ns, pod.Name)
			}
			out = append(out, net.JoinHostPort(lo, strconv.Itoa(int(port))))
		}
	}
	return out, nil
}

// ServiceProxyAddress is the loopback host:port where the node agent's proxy
// serves a Service port (the address its cluster names resolve to in pods).
func (e *Env) ServiceProxyAddress(ns, svc string, port int32) (string, error) {
	ip := e.Agent.ServiceAddress(ns, svc)
	if ip == "" {
		return "", fmt.Errorf("service %s/%s is not served by the node agent", ns, svc)
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}

// Eventually polls cond every 250 ms until it reports true, failing the test
// with what and the last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	poll.Until(t, what, 250*time.Millisecond, timeout, poll.Reports(cond))
}

// DumpNamespace logs the pods (node, phase, conditions, container states)
// and events of a namespace: what a failed test needs to be understood.
func (e *Env) DumpNamespace(t testing.TB, ns string) {
	t.Helper()
	ctx := context.Background()
	pods, err := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("cannot list pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		var conds []string
		for _, c := range p.Status.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s(%s)", c.Type, c.Status, c.Message))
		}
		t.Logf("pod %s node=%q phase=%s conditions=%v", p.Name, p.Spec.NodeName, p.Status.Phase, conds)
		for _, cs := range p.Status.ContainerStatuses {
			t.Logf("  container %s ready=%v restarts=%d state=%+v", cs.Name, cs.Ready, cs.RestartCount, cs.State)
		}
	}
	events, err := e.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, ev := range events.Items {
			t.Logf("event %s %s/%s: %s %s", ev.Type, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Reason, ev.Message)
		}
	}
}

func mustCreate(path string) *os.File {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		panic(err)
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	return f
}
