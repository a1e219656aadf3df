package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"

	"github.com/understudy-dev/understudy/test/demo"
)

// runDemo is `localcluster demo`: the cluster, the operator, PostgreSQL and
// the demo manifests until Ctrl-C, SIGTERM or SIGHUP (the
// terminal closed); every one of them stops everything started.
func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("dir", ".demo", "state dir (wiped at start): cluster, logs, backups")
	imageBin := fs.String("image-bin", "", "directory of manager, demo-site and refresh-runner (default: this executable's directory)")
	assets := fs.String("assets", "", "directory of the control-plane binaries (default: bin/k8s/<version>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *imageBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*imageBin = filepath.Dir(exe)
	}
	abs, err := filepath.Abs(*imageBin)
	if err != nil {
		return err
	}
	*imageBin = abs
	ctx, stop := demo.SignalContext(context.Background())
	defer stop()
	return demo.Run(ctx, demo.Options{Dir: *dir, ImageBin: *imageBin, Assets: *assets, Out: os.Stdout})
}
