// Package localcluster owns a whole Kubernetes control plane on loopback:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler started as
// local processes from the binaries `make cluster-tools` builds, with
// generated certificates, an admin token and a kubeconfig in a state dir. It
// waits until the control plane is usable and stops every process it started,
// process group by process group. It runs no pods: a node agent does.
package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options configure Start.
type Options struct {
	// Dir is the state dir: data, credentials, kubeconfig and logs. Its
	// previous content is removed: every start is a fresh cluster.
	Dir string
	// Assets is the directory of the control-plane binaries; FindAssets when empty.
	Assets string
	// Timeout bounds the whole start; 90 s when zero.
	Timeout time.Duration
	// ClientQPS and ClientBurst are the client rate limits of
	// kube-controller-manager and kube-scheduler towards the API server;
	// zero keeps their defaults (kcm 20/30, scheduler 50/100), which set
	// the pace of anything creating many pods.
	ClientQPS   float32
	ClientBurst int
	// ControllerSyncs is kube-controller-manager's number of Deployment and
	// ReplicaSet workers; zero keeps its default (5 each), which bounds how
	// fast it writes their statuses when thousands of pods turn Ready at once.
	ControllerSyncs int
}

// controllerSyncs are kcm's worker-count flags.
func (o Options) controllerSyncs() []string {
	if o.ControllerSyncs <= 0 {
		return nil
	}
	n := fmt.Sprint(o.ControllerSyncs)
	return []string{"--concurrent-deployment-syncs", n, "--concurrent-replicaset-syncs", n}
}

// clientLimits are the rate-limit flags of kcm and the scheduler.
func (o Options) clientLimits() []string {
	var args []string
	if o.ClientQPS > 0 {
		args = append(args, "--kube-api-qps", fmt.Sprint(o.ClientQPS))
	}
	if o.ClientBurst > 0 {
		args = append(args, "--kube-api-burst", fmt.Sprint(o.ClientBurst))
	}
	return args
}

// Cluster is a running control plane.
type Cluster struct {
	Dir        string
	Kubeconfig string
	// APIServerPort is the loopback port of the API server (https).
	APIServerPort int
	// Marker is the value of MarkerEnv in every process started for this cluster.
	Marker string
	// CAFile is the CA that signed the API server certificate.
	CAFile string

	config *rest.Config
	procs  []*Process
	assets string
}

// Start brings up etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler and returns once the API server is ready and the controller
// manager has created the default service account. On error, everything
// already started is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Timeout == 0 {
		opts.Timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if opts.Assets == "" {
		if opts.Assets, err = FindAssets(); err != nil {
			return nil, err
		}
	} else if err := checkBinaries(opts.Assets); err != nil {
		return nil, fmt.Errorf("%w: build them with `make cluster-tools`", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("cannot clean state dir: %w", err)
	}
	c = &Cluster{Dir: dir, Marker: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), assets: opts.Assets}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	p, err := writePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, err
	}
	c.CAFile = p.caCert
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort := ports[0], ports[1]
	c.APIServerPort = ports[2]
	server := "https://127.0.0.1:" + strconv.Itoa(c.APIServerPort)
	if err := writeKubeconfig(c.Kubeconfig, server, p); err != nil {
		return nil, err
	}
	if c.config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return nil, fmt.Errorf("cannot load kubeconfig: %w", err)
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	if err := c.start(opts.Assets, "etcd",
		"--data-dir", filepath.Join(dir, "etcd"), "--name", "local",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--initial-cluster", "local=http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--unsafe-no-fsync", "--log-level", "warn"); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, "etcd", etcdURL+"/health", nil); err != nil {
		return nil, err
	}
	if err := c.start(opts.Assets, "kube-apiserver",
		"--etcd-servers", etcdURL, "--secure-port", strconv.Itoa(c.APIServerPort),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--endpoint-reconciler-type", "none",
		// Reach the node agent by its InternalIP (127.0.0.1), never by
		// resolving its hostname through the machine's DNS.
		"--kubelet-preferred-address-types", "InternalIP",
		"--tls-cert-file", p.servingCert, "--tls-private-key-file", p.servingKey,
		"--client-ca-file", p.caCert, "--token-auth-file", p.tokenFile,
		"--authorization-mode", "RBAC",
		"--service-account-key-file", p.saPub, "--service-account-signing-key-file", p.saKey,
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--allow-privileged", "--profiling=false", "--v", "0"); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, "kube-apiserver", server+"/readyz", p); err != nil {
		return nil, err
	}
	if err := c.start(opts.Assets, "kube-controller-manager", append([]string{
		"--kubeconfig", c.Kubeconfig, "--service-account-private-key-file", p.saKey,
		"--root-ca-file", p.caCert, "--controllers", "*", "--bind-address", "127.0.0.1",
		"--secure-port", "0", "--leader-elect=false", "--node-monitor-grace-period", "1h",
		"--profiling=false"}, append(opts.clientLimits(), opts.controllerSyncs()...)...)...); err != nil {
		return nil, err
	}
	if err := c.start(opts.Assets, "kube-scheduler", append([]string{
		"--kubeconfig", c.Kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1",
		"--secure-port", "0", "--profiling=false"}, opts.clientLimits()...)...); err != nil {
		return nil, err
	}
	if err := c.waitDefaultServiceAccount(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// RESTConfig is an admin client config for the cluster.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// LogPath is the log file of a control-plane component.
func (c *Cluster) LogPath(name string) string { return filepath.Join(c.Dir, "logs", name+".log") }

// Stop stops every process of the control plane, newest first, and waits for
// each to exit. It is safe to call more than once.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].Stop(10 * time.Second)
	}
	c.procs = nil
}

func (c *Cluster) start(assets, name string, args ...string) error {
	argv := append([]string{filepath.Join(assets, name)}, args...)
	p, err := StartProcess(name, c.LogPath(name), c.Marker, nil, argv...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func (c *Cluster) waitHTTP(ctx context.Context, name, url string, p *pki) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var token string
	if p != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(p.caPEM)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		token = p.token
	}
	proc := c.procs[len(c.procs)-1]
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-proc.Exited():
			return fmt.Errorf("%s %w (%v): see %s", name, ErrExited, proc.Err(), c.LogPath(name))
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy at %s: %w: see %s", name, url, ctx.Err(), c.LogPath(name))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitDefaultServiceAccount waits for the controller manager to create the
// default service account, without which no pod can be admitted.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return err
	}
	kcm := c.procs[len(c.procs)-2]
	for {
		sa, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err == nil && sa.Name == "default" {
			return nil
		}
		select {
		case <-kcm.Exited():
			return fmt.Errorf("kube-controller-manager %w: see %s", ErrExited, c.LogPath("kube-controller-manager"))
		case <-ctx.Done():
			return fmt.Errorf("no default service account: %w: see %s", ctx.Err(), c.LogPath("kube-controller-manager"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// FreeLoopbackAddr is a free host:port on 127.0.0.1, for a process the
// rig starts (a manager's metrics or health endpoint, a test server).
func FreeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot reserve a port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// freePorts reserves n distinct loopback ports by listening and releasing them.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot reserve a port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
