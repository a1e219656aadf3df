package demo

import (
	"fmt"
	"io"
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
Release v2 to production: AwaitingUpstream until dev has served v2 for a minute, then it starts by itself on dev's digest (smoke-tested through the preview Service, then waits for you). Each local/demo-site tag is a build of its own with a digest of its own, as from a registry: production runs the digest dev ran, and v2 and v3 are told apart by digest (kubectl understudy ... get, history):
  kubectl -n prod patch sdep service0 --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v2"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v2"}]'
  kubectl understudy -n prod get sdep service0 -w   # the promotion gate: what dev runs, since when; then Progressing, AwaitingPromotion
  (this terminal prints the candidate's preview URL, behind service0-preview, when the candidate is up)
Promote it (the promote annotation names the exact candidate revision), and wait for it:
  kubectl understudy -n prod promote service0
  kubectl understudy -n prod status service0 -w --timeout 5m
Roll it back (one selector flip back while the old color is warm, 3 minutes):
  kubectl understudy -n prod rollback service0
Apply v3 with a schema change to production before dev has it: it waits (AwaitingUpstream), and says why (dev runs v2, not v3):
  kubectl -n prod patch sdep service0 --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v3"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v3"},{"op":"replace","path":"/spec/database/schemaRevision","value":"2"}]'
  kubectl -n prod get sdep service0 -o jsonpath='{.status.message}{"\n"}'
While it waits, a hotfix that cannot wait for dev skips the gate: name the revision waiting (answered in status.actions, a Warning event, history's GATE column says Skipped); or leave it waiting for dev:
  kubectl understudy -n prod skip-gate service0   # writes deploy.understudy.dev/skip-promotion-gate=<the revision waiting>
  kubectl understudy -n prod history service0
Release v3 to dev (as v2 above, with v3); a minute after dev switches, production starts v3 (at once, had you skipped the gate) and rehearses the schema change while service0 keeps taking writes: a snapshot of service0 is copied to service0_green, the migration adds a column there, v3 starts on that copy and is smoke-tested, then waits for you:
  kubectl -n prod get sdep service0 -o jsonpath='{.status.database}{"\n"}'   # candidate.stage Rehearsing, then AwaitingPromotion; later activeName/previousName
Promote it as above: service0_green is made again, this time by logical replication from service0, which keeps taking writes; the migration runs there again and v3 starts on it; only for the catch-up and the switch do writes freeze (a POST answers 503 with sqlstate 25006), and status.database.lastFreezeDuration says for how long (well under a second). An abort then brings back service0, writable, and reports the writes not carried back.
The gate remembers what dev verified: dev may move on before production takes a version. Release v4 to dev, and once dev has served it for a minute, v5:
  kubectl -n dev patch sdep service0-dev --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v4"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v4"}]'
  kubectl -n dev patch sdep service0-dev --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v5"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v5"}]'
Then give production v4: dev runs v5 now, but it served v4 live for a minute and never rolled it back, so production starts v4 at once, on the digest dev's v4 ran (history's gate column says Qualified, and by which dev revision):
  kubectl -n prod patch sdep service0 --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v4"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v4"}]'
  kubectl understudy -n prod get sdep service0      # promotion gate: dev/service0-dev served v4 from ... until ..., qualifies
  kubectl understudy -n prod promote service0 && kubectl understudy -n prod history service0
Two sites that ship together: prod/shop-web and prod/shop-api are release group shop (spec.strategy.group). Release v2 to both: each candidate starts on its own, and neither switches until both are ready and the group is approved, once, by revision set:
  kubectl -n prod patch sdep shop-web --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v2"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v2"}]'
  kubectl -n prod patch sdep shop-api --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v2"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v2"}]'
  kubectl understudy -n prod get group shop          # each member's state; AwaitingPromotion and the revision set once both are up
  kubectl understudy -n prod promote --group shop    # writes deploy.understudy.dev/promote-group=<the revision set>: both switch in one pass
A failure or an abort of one takes the other back: release v3 to both, abort shop-api's candidate, and shop-web goes back with it (reason GroupMemberFailed, naming shop-api):
  kubectl -n prod patch sdep shop-web --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v3"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v3"}]'
  kubectl -n prod patch sdep shop-api --type=json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"local/demo-site:v3"},{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"v3"}]'
  kubectl understudy -n prod abort shop-api
  kubectl understudy -n prod get group shop          # RollingBack: shop-api Failed, shop-web Withdrawn; both still serve v2
Refresh dev from production's nightly backup now (it also runs every 5 minutes):
  kubectl understudy -n dev refresh now service0-dev-refresh
  kubectl understudy -n dev refresh status service0-dev-refresh
  kubectl -n dev get dbr -w      # one resource type per watch; in another terminal:
  kubectl -n dev get pods -w
Or from the same backup in an S3 bucket (SeaweedFS on loopback; the access key comes from Secret dev/prod-backups-reader; suspended, so only when asked):
  kubectl understudy -n dev refresh now service0-dev-refresh-s3
  kubectl -n dev get dbr service0-dev-refresh-s3 -o jsonpath='{.status.lastRefresh.object}{"\n"}'   # bucket, key, size, lastModified

Logs: {{.Logs}} (manager.log, nodeagent.log, ...); kubectl logs works too.
Press Ctrl-C to stop everything.
`))

func printInstructions(w io.Writer, in instructions) {
	in.Took = in.Took.Round(100 * time.Millisecond)
	if err := instructionsText.Execute(w, in); err != nil {
		fmt.Fprintln(w, err)
	}
}
