package demo

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/localcluster"
)

// Every kubectl command the demo prints can be pasted as is: a watch (-w)
// names exactly one resource type, which is all kubectl accepts.
func TestPrintedKubectlCommandsParse(t *testing.T) {
	var b strings.Builder
	printInstructions(&b, instructions{Kubeconfig: "/k", Logs: "/l", Assets: "/a", Prod: "127.0.0.1:1", Dev: "127.0.0.1:2"})
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		fields := strings.Fields(cmd)
		if len(fields) == 0 || fields[0] != "kubectl" {
			continue
		}
		n++
		watch, get := false, -1
		for i, f := range fields {
			if f == "-w" || f == "--watch" {
				watch = true
			}
			if f == "get" && get < 0 {
				get = i
			}
		}
		if !watch || get < 0 {
			continue // kubectl understudy status -w watches one SiteDeployment
		}
		if get+1 >= len(fields) {
			t.Errorf("get -w without a resource: %q", line)
			continue
		}
		if types := fields[get+1]; strings.Contains(types, ",") {
			t.Errorf("%q watches %s; kubectl watches one resource type at a time", strings.TrimSpace(line), types)
		}
	}
	if n == 0 {
		t.Fatalf("no kubectl commands printed:\n%s", b.String())
	}
}

// The demo turns on the operator's metrics endpoint, on loopback only, and
// prints its URL.
func TestMetricsEndpointIsOnAndPrinted(t *testing.T) {
	metrics, err := localcluster.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(managerArgs("/k", "127.0.0.1:1", metrics), " ")
	if !strings.Contains(args, "-metrics-bind-address="+metrics) || !strings.HasPrefix(metrics, "127.0.0.1:") {
		t.Errorf("manager runs with %q; want metrics on %s", args, metrics)
	}
	var b strings.Builder
	printInstructions(&b, instructions{Metrics: metrics})
	if !strings.Contains(b.String(), "http://"+metrics+"/metrics") {
		t.Errorf("the demo does not print the metrics URL:\n%s", b.String())
	}
}

// lineOf is the index of the first printed line containing s, -1 when none.
func lineOf(lines []string, s string) int {
	for i, l := range lines {
		if strings.Contains(l, s) {
			return i
		}
	}
	return -1
}

// The demo's steps say what happens, in an order where each one works:
// skip-gate is offered while v3 waits for its upstream (after v3 is applied
// to production before dev has it, before dev gets it), and with the
// default rehearsal production's writes freeze on promotion, not when
// production starts v3.
func TestDemoStepsSayWhatHappens(t *testing.T) {
	var b strings.Builder
	printInstructions(&b, instructions{})
	lines := strings.Split(b.String(), "\n")
	waits := lineOf(lines, "Apply v3 with a schema change to production before dev has it")
	skip := lineOf(lines, "kubectl understudy -n prod skip-gate service0")
	devV3 := lineOf(lines, "Release v3 to dev")
	if waits < 0 || skip < 0 || devV3 < 0 || !(waits < skip && skip < devV3) {
		t.Errorf("skip-gate (line %d) must come after v3 waits on production (line %d) and before v3 reaches dev (line %d):\n%s", skip, waits, devV3, b.String())
	}
	if !strings.Contains(lines[devV3], "rehearses") || strings.Contains(lines[devV3], "freeze") {
		t.Errorf("production starting v3 must be a rehearsal that takes writes, not a freeze: %q", lines[devV3])
	}
	promote := lineOf(lines[devV3:], "Promote it")
	if promote < 0 || !strings.Contains(lines[devV3+promote], "only for the catch-up and the switch do writes freeze") ||
		!strings.Contains(lines[devV3+promote], "logical replication") {
		t.Errorf("the promotion of v3 must be where writes freeze, for the replicated cutover's catch-up only:\n%s", b.String())
	}
}

// The preview URL is printed when a candidate is up (all its replicas were
// available), once per candidate, not while there is none.
func TestCandidatePreviewIsAnnouncedWhenUp(t *testing.T) {
	address := func(ns, name string) string {
		if ns == "prod" && name == "service0-preview" {
			return "127.0.0.9"
		}
		return ""
	}
	site := &v1.SiteDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "service0"}}
	announced := ""
	say := func() string {
		var line string
		line, announced = candidateUp(site, address, announced)
		return line
	}
	if l := say(); l != "" {
		t.Errorf("announced without a candidate: %q", l)
	}
	site.Status.PreviewRevision = "7a1b2c"
	if l := say(); l != "" {
		t.Errorf("announced a candidate not yet available: %q", l)
	}
	site.Status.PreviewReadyAt = &metav1.Time{Time: time.Now()}
	if l := say(); !strings.Contains(l, "candidate 7a1b2c is up behind service0-preview: curl -s http://127.0.0.9:80/") {
		t.Errorf("candidate up: %q", l)
	}
	if l := say(); l != "" {
		t.Errorf("announced the same candidate twice: %q", l)
	}
	site.Status.PreviewRevision, site.Status.PreviewReadyAt = "", nil
	say()
	site.Status.PreviewRevision, site.Status.PreviewReadyAt = "9f8e7d", &metav1.Time{Time: time.Now()}
	if l := say(); !strings.Contains(l, "candidate 9f8e7d is up") {
		t.Errorf("the next candidate: %q", l)
	}
}
