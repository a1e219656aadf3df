package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"text/template"
	"time"
)

type instructions struct {
	Took             time.Duration
	Kubeconfig, Logs string
	Assets           string
	Prod, Dev        string
	Metrics          string // the operator's metrics endpoint, on loopback
}

var instructionsText = template.Must(template.New("").Parse(`
understudy demo up in {{.Took}}. In another terminal:

  export KUBECONFIG={{.Kubeconfig}}
  export PATH={{.Assets}}:$PATH      # kubectl, pinned with the cluster
  kubectl get sdep,dbr -A
  make plugin && export PATH=$PWD/bin:$PATH   # kubectl understudy (docs/kubectl-plugin.md)
  curl -s http://{{.Prod}}/      # production prod/service0: version and user count
  curl -s -X POST -d note=hello http://{{.Prod}}/items   # a write: 201, or 503 with sqlstate 25006 while writes are frozen
  curl -s http://{{.Dev}}/      # dev dev/service0-dev: a sanitised copy
  curl -s http://{{.Metrics}}/metrics | grep controller_runtime_reconcile_total   # the operator's metrics (loopback only)

Every version runs on dev first: production (spec.promotion) releases only an image tag dev has served, on the same digest, for a minute.
Release v2 to dev (it switches by itself):
  kubectl -n dev patch sdep service0-dev --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v2"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v2"}]'
Release v2 to production: AwaitingUpstream until dev has served v2 for a minute, then it starts by itself on dev's digest (smoke-tested through the preview Service, then waits for you):
  kubectl -n prod patch sdep service0 --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v2"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v2"}]'
  kubectl understudy -n prod get sdep service0 -w   # the promotion gate: what dev runs, since when; then Progressing, AwaitingPromotion
  (this terminal prints the candidate's preview URL, service0-preview, when it is up)
Promote it (the promote annotation names the exact candidate revision), and wait for it:
  kubectl understudy -n prod promote service0
  kubectl understudy -n prod status service0 -w --timeout 5m
Roll it back (one selector flip back while the old color is warm, 3 minutes):
  kubectl understudy -n prod rollback service0
Apply v3 with a schema change to production before dev has it: it waits, and says why (dev runs v2, not v3):
  kubectl -n prod patch sdep service0 --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v3"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v3"},{"op":"replace","path":"/spec/database/schemaRevision","value":"2"}]'
  kubectl -n prod get sdep service0 -o jsonpath='{.status.message}{"\n"}'
Release v3 to dev (as v2 above, with v3); a minute after dev switches, production starts v3 by itself: writes freeze, service0 is copied to service0_green, the migration adds a column there:
  kubectl -n prod get sdep service0 -o jsonpath='{.status.database}{"\n"}'   # candidate step, then activeName/previousName
  (promote it as above; an abort then brings back service0, writable, and reports the writes not carried back)
A hotfix that cannot wait for dev: name the revision to skip the gate (answered in status.actions, a Warning event, history's GATE column says Skipped):
  kubectl understudy -n prod skip-gate service0   # writes deploy.understudy.dev/skip-promotion-gate=<the revision waiting>
  kubectl understudy -n prod history service0
Refresh dev from production's nightly backup now (it also runs every 5 minutes):
  kubectl understudy -n dev refresh now service0-dev-refresh
  kubectl understudy -n dev refresh status service0-dev-refresh
  kubectl -n dev get dbr -w      # one resource type per watch; in another terminal:
  kubectl -n dev get pods -w

Logs: {{.Logs}} (manager.log, nodeagent.log, ...); kubectl logs works too.
Press Ctrl-C to stop everything.
`))

// announceServices prints the URL of each named Service whenever the node
// agent serves it on a new address (a preview Service exists only during a
// release), until ctx ends.
func announceServices(ctx context.Context, w io.Writer, address func(ns, name string) string, services ...[2]string) {
	shown := map[[2]string]string{}
	for {
		for _, s := range services {
			if a := address(s[0], s[1]); a != "" && a != shown[s] {
				shown[s] = a
				fmt.Fprintf(w, "==> %s/%s is served: curl -s http://%s/\n", s[0], s[1], net.JoinHostPort(a, "80"))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printInstructions(w io.Writer, in instructions) {
	in.Took = in.Took.Round(100 * time.Millisecond)
	if err := instructionsText.Execute(w, in); err != nil {
		fmt.Fprintln(w, err)
	}
}
