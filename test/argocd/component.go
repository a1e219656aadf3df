package argocd

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/understudy-dev/understudy/test/testenv"
)

// ComponentPath is the argocd-cm patch of the kustomize component config/argocd.
func ComponentPath() string {
	return filepath.Join(testenv.RepoRoot(), "config", "argocd", "argocd-cm.yaml")
}

// HealthKey and ActionsKey are the argocd-cm keys of a kind's scripts.
func HealthKey(kind string) string  { return "resource.customizations.health." + Group + "_" + kind }
func ActionsKey(kind string) string { return "resource.customizations.actions." + Group + "_" + kind }

// Actions lists the action names of kind (the directories under actions/).
func Actions(kind string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(Root(), kind, "actions"))
	if err != nil {
		return nil, fmt.Errorf("cannot list actions: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// RenderComponent renders the argocd-cm patch from the scripts: each kind's
// health.lua under its health key, and its discovery.lua and action.lua
// files as the YAML document Argo CD expects under its actions key.
func RenderComponent() ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Generated from resource_customizations/ by\n")
	b.WriteString("#   go test ./test/argocd -run TestComponent -update\n")
	b.WriteString("# Do not edit: change the .lua files and run that.\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\ndata:\n")
	for _, kind := range Kinds {
		health, err := Script(kind, "health.lua")
		if err != nil {
			return nil, err
		}
		actions, err := actionsDocument(kind)
		if err != nil {
			return nil, err
		}
		block(&b, 2, HealthKey(kind)+":", health)
		block(&b, 2, ActionsKey(kind)+":", actions)
	}
	return []byte(b.String()), nil
}

func actionsDocument(kind string) (string, error) {
	var b strings.Builder
	discovery, err := Script(kind, "actions/discovery.lua")
	if err != nil {
		return "", err
	}
	block(&b, 0, "discovery.lua:", discovery)
	b.WriteString("definitions:\n")
	names, err := Actions(kind)
	if err != nil {
		return "", err
	}
	for _, name := range names {
		script, err := Script(kind, filepath.Join("actions", name, "action.lua"))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "- name: %s\n", name)
		block(&b, 2, "action.lua:", script)
	}
	return b.String(), nil
}

// block writes key followed by text as a literal block scalar.
func block(b *strings.Builder, indent int, key, text string) {
	pad := strings.Repeat(" ", indent)
	fmt.Fprintf(b, "%s%s |\n", pad, key)
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if line == "" {
			b.WriteString("\n")
			continue
		}
		fmt.Fprintf(b, "%s  %s\n", pad, line)
	}
}
