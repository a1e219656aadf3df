package argocd_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/understudy-dev/understudy/test/argocd"
)

var update = flag.Bool("update", false, "rewrite config/argocd/argocd-cm.yaml from the scripts")

// The component installs exactly the scripts the other tests run: it fails
// when a .lua file changed and the component was not regenerated.
func TestComponentMatchesScripts(t *testing.T) {
	want, err := argocd.RenderComponent()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(argocd.ComponentPath(), want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(argocd.ComponentPath())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is out of date: run `go test ./test/argocd -run TestComponent -update`", argocd.ComponentPath())
	}
}

// What Argo CD reads back from argocd-cm is each script, byte for byte.
func TestComponentDecodesToTheScripts(t *testing.T) {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := argocd.ReadYAML(argocd.ComponentPath(), &cm); err != nil {
		t.Fatal(err)
	}
	for _, kind := range argocd.Kinds {
		health, err := argocd.Script(kind, "health.lua")
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data[argocd.HealthKey(kind)] != health {
			t.Errorf("%s differs from %s/health.lua", argocd.HealthKey(kind), kind)
		}
		var actions struct {
			Discovery   string `json:"discovery.lua"`
			Definitions []struct {
				Name   string `json:"name"`
				Action string `json:"action.lua"`
			} `json:"definitions"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data[argocd.ActionsKey(kind)]), &actions); err != nil {
			t.Fatalf("%s: %v", argocd.ActionsKey(kind), err)
		}
		discovery, _ := argocd.Script(kind, "actions/discovery.lua")
		if actions.Discovery != discovery {
			t.Errorf("%s: discovery.lua differs", argocd.ActionsKey(kind))
		}
		names, _ := argocd.Actions(kind)
		if len(actions.Definitions) != len(names) {
			t.Fatalf("%s: %d definitions, want %v", argocd.ActionsKey(kind), len(actions.Definitions), names)
		}
		for i, d := range actions.Definitions {
			script, _ := argocd.Script(kind, filepath.Join("actions", names[i], "action.lua"))
			if d.Name != names[i] || d.Action != script {
				t.Errorf("%s: definition %d is %q, want %s with its action.lua", argocd.ActionsKey(kind), i, d.Name, names[i])
			}
		}
	}
}
