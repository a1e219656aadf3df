package demo

import (
	"strings"
	"testing"
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
