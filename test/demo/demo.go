package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"

	"github.com/understudy-dev/understudy/test/localcluster"
	"github.com/understudy-dev/understudy/test/nodeagent"
	"github.com/understudy-dev/understudy/test/poll"
)

// Options configure Run.
type Options struct {
	// Dir holds the cluster's state, logs and the backups; wiped at start.
	Dir string
	// ImageBin holds demo-site, refresh-runner and manager (local/<name> images).
	ImageBin string
	// Assets is the directory of the control-plane binaries ("" = default).
	Assets string
	// Out receives progress and the instructions.
	Out io.Writer
}

// Run starts the demo, prints how to use it and runs until ctx ends; then it
// stops everything it started and reports any process left running.
func Run(ctx context.Context, o Options) (err error) {
	begin := time.Now()
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	root, err := localcluster.ModuleRoot()
	if err != nil {
		return err
	}
	var stops []func()
	defer func() {
		fmt.Fprintln(o.Out, "stopping: operator, pods, PostgreSQL, control plane ...")
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()

	step(o.Out, "starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) on 127.0.0.1")
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: filepath.Join(dir, "cluster"), Assets: o.Assets})
	if err != nil {
		return err
	}
	stops = append(stops, func() {
		c.Stop()
		if left := localcluster.Leftovers(c.Marker); len(left) > 0 {
			err = errors.Join(err, fmt.Errorf("processes left running: %v", left))
		} else {
			fmt.Fprintln(o.Out, "stopped; no process left running")
		}
	})
	step(o.Out, "starting the node agent (pods run as local processes on 127.x addresses)")
	agent, err := startAgent(c, o.ImageBin, &stops)
	if err != nil {
		return err
	}

	step(o.Out, "starting PostgreSQL on 127.0.0.1 with production, dev and last night's backup")
	backups := filepath.Join(dir, "backups")
	_ = os.RemoveAll(backups)
	roles := newAppRoles()
	pg, err := startDatabase(ctx, backups, roles)
	if err != nil {
		return err
	}
	stops = append(stops, func() { pg.Stop(); _ = os.RemoveAll(backups) })
	step(o.Out, "starting SeaweedFS (S3) on 127.0.0.1 with the same backup in bucket "+bucket)
	store, err := startBucket(ctx, backups)
	if err != nil {
		return err
	}
	stops = append(stops, store.Stop)

	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	cl, err := client.New(c.RESTConfig(), client.Options{Scheme: demoScheme})
	if err != nil {
		return err
	}
	assets := o.Assets
	if assets == "" {
		assets, _ = localcluster.FindAssets()
	}
	k := newKubectl(assets, c.Kubeconfig, root)
	step(o.Out, "installing the CRDs and the database Secrets (generated credentials)")
	if err := k.installCRDs(ctx); err != nil {
		return err
	}
	if err := createDatabaseAccess(ctx, cs, pg, roles, backups); err != nil {
		return err
	}

	step(o.Out, "starting the operator (manager --refresh-runner-image=local/refresh-runner)")
	mgr, metrics, err := startManager(c, o.ImageBin)
	if err != nil {
		return err
	}
	stops = append(stops, func() { mgr.Stop(10 * time.Second) })

	step(o.Out, "applying config/samples/demo/")
	if _, err := k.run(ctx, "apply", "--server-side", "-f", "config/samples/demo/"); err != nil {
		return err
	}
	step(o.Out, "creating dev/"+bucketRefresh+": the same refresh from the bucket, suspended (runs when asked)")
	if err := createBucketRefresh(ctx, cs, cl, store); err != nil {
		return err
	}
	step(o.Out, "waiting for prod/service0, dev/service0-dev and release group prod/shop (shop-web, shop-api) to be Ready")
	for _, s := range [][2]string{{"prod", "service0"}, {"dev", "service0-dev"}, {"prod", "shop-web"}, {"prod", "shop-api"}} {
		if err := poll.Wait(ctx, pollEvery, 2*time.Minute, func() error {
			_, err := k.run(ctx, "-n", s[0], "wait", "--for=condition=Ready", "--timeout=5s", "sdep/"+s[1])
			return err
		}); err != nil {
			return err
		}
	}
	prod, dev := agent.ServiceAddress("prod", "service0"), agent.ServiceAddress("dev", "service0-dev")
	printInstructions(o.Out, instructions{
		Took: time.Since(begin), Kubeconfig: c.Kubeconfig, Logs: filepath.Join(c.Dir, "logs"), Assets: assets,
		Prod: net.JoinHostPort(prod, "80"), Dev: net.JoinHostPort(dev, "80"), Metrics: metrics,
	})
	go announceCandidates(ctx, o.Out, cl, "prod", "service0", agent.ServiceAddress)
	select {
	case <-ctx.Done():
		return nil
	case <-mgr.Exited():
		return fmt.Errorf("the operator exited: %v (see %s)", mgr.Err(), c.LogPath("manager"))
	}
}

// demoScheme reads SiteDeployments (the preview announcements).
var demoScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := v1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

func step(w io.Writer, what string) {
	fmt.Fprintf(w, "==> %s\n", what)
}

// startAgent runs the node agent until its stop (appended to stops) and
// waits until it serves the node.
func startAgent(c *localcluster.Cluster, imageBin string, stops *[]func()) (*nodeagent.Agent, error) {
	logf, err := os.Create(c.LogPath("nodeagent"))
	if err != nil {
		return nil, err
	}
	agent, err := nodeagent.New(c.RESTConfig(), nodeagent.Options{
		StateDir: filepath.Join(c.Dir, "node"), ImageBinDir: imageBin,
		Marker: c.Marker, MarkerEnv: localcluster.MarkerEnv,
		Log: zap.New(zap.UseDevMode(true), zap.WriteTo(logf)),
	})
	if err != nil {
		logf.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	*stops = append(*stops, func() { cancel(); <-done; logf.Close() })
	select {
	case <-agent.Ready():
		return agent, nil
	case err := <-done:
		done <- err
		return nil, fmt.Errorf("node agent stopped: %w", err)
	case <-time.After(90 * time.Second):
		return nil, fmt.Errorf("node agent not ready after 90s: see %s", c.LogPath("nodeagent"))
	}
}

// startManager runs the operator as a local process against the cluster,
// its health and metrics endpoints on loopback only; it returns the metrics
// address.
func startManager(c *localcluster.Cluster, imageBin string) (*localcluster.Process, string, error) {
	health, err := localcluster.FreeLoopbackAddr()
	if err != nil {
		return nil, "", err
	}
	metrics, err := localcluster.FreeLoopbackAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := localcluster.StartProcess("manager", c.LogPath("manager"), c.Marker, []string{"KUBECONFIG=" + c.Kubeconfig},
		append([]string{filepath.Join(imageBin, "manager")}, managerArgs(c.Kubeconfig, health, metrics)...)...)
	return p, metrics, err
}

func managerArgs(kubeconfig, health, metrics string) []string {
	return []string{"-kubeconfig=" + kubeconfig, "-metrics-bind-address=" + metrics,
		"-health-probe-bind-address=" + health, "-refresh-runner-image=local/refresh-runner"}
}
