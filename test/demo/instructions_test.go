package demo

import (
	"strings"
	"testing"

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
