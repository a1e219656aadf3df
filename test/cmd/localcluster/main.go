// Command localcluster runs the project's local Kubernetes cluster: a
// loopback control plane (test/localcluster) and the node agent
// (test/nodeagent) that runs every pod as local processes.
//
//	localcluster up --dir .demo [--image-bin DIR]
//	localcluster demo --dir .demo [--image-bin DIR]
//
// It prints the KUBECONFIG line to use and runs until Ctrl-C or SIGTERM, then
// stops every process it started. demo does the same with the operator, a
// PostgreSQL and the manifests of config/samples/demo (see test/demo). Images `local/<name>` run the program
// <name> from --image-bin (default: the directory of this executable).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/understudy-dev/understudy/test/demo"
	"github.com/understudy-dev/understudy/test/localcluster"
	"github.com/understudy-dev/understudy/test/nodeagent"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "demo" {
		return runDemo(args[1:])
	}
	if len(args) == 0 || args[0] != "up" {
		return errors.New("usage: localcluster up|demo --dir DIR [--image-bin DIR] [--assets DIR]")
	}
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := fs.String("dir", ".demo", "state dir (wiped at start): data, credentials, kubeconfig, logs, pod files")
	imageBin := fs.String("image-bin", "", "directory of the programs that local/<name> images stand for (default: this executable's directory)")
	assets := fs.String("assets", "", "directory of etcd, kube-apiserver, kube-controller-manager, kube-scheduler (default: bin/k8s/"+localcluster.AssetsVersion+")")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *imageBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*imageBin = filepath.Dir(exe)
	}
	log := zap.New(zap.UseDevMode(false))
	ctx, stop := demo.SignalContext(context.Background()) // SIGHUP too: closing the terminal stops the cluster
	defer stop()

	start := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: *dir, Assets: *assets})
	if err != nil {
		return err
	}
	defer c.Stop()
	agent, err := nodeagent.New(c.RESTConfig(), nodeagent.Options{
		StateDir: filepath.Join(c.Dir, "node"), ImageBinDir: *imageBin,
		Marker: c.Marker, MarkerEnv: localcluster.MarkerEnv, Log: log.WithName("nodeagent"),
	})
	if err != nil {
		return err
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Run(ctx) }()
	fmt.Printf("cluster up in %s; node %s runs pods as local processes (logs in %s)\n",
		time.Since(start).Round(100*time.Millisecond), nodeagent.DefaultNodeName, filepath.Join(c.Dir, "logs"))
	fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig)
	fmt.Println("press Ctrl-C to stop")
	select {
	case err = <-agentDone:
		stop()
	case <-ctx.Done():
		err = <-agentDone
	}
	c.Stop()
	if left := localcluster.Leftovers(c.Marker); len(left) > 0 {
		return fmt.Errorf("processes left running: %v", left)
	}
	fmt.Println("cluster stopped")
	return err
}
