package argocd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/understudy-dev/understudy/test/testenv"
)

// Group is the API group whose scripts live under Root().
const Group = "deploy.understudy.dev"

// Root is the resource_customizations directory of the group, in Argo CD's layout.
func Root() string {
	return filepath.Join(testenv.RepoRoot(), "config", "argocd", "resource_customizations", Group)
}

// Kinds are the kinds with scripts, in the order they are installed.
var Kinds = []string{"SiteDeployment", "DatabaseRefresh"}

// HealthTests is a health_test.yaml file.
type HealthTests struct {
	Tests []struct {
		HealthStatus HealthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

// HealthStatus is what a health script returns.
type HealthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// ActionTests is an actions/action_test.yaml file.
type ActionTests struct {
	DiscoveryTests []struct {
		InputPath string             `json:"inputPath"`
		Result    []DiscoveredAction `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

// DiscoveredAction is one entry of what discovery.lua returns.
type DiscoveredAction struct {
	Name     string `json:"name"`
	Disabled bool   `json:"disabled"`
}

// ReadYAML decodes a YAML file into v.
func ReadYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cannot decode %s: %w", path, err)
	}
	return nil
}

// Object reads a testdata object as JSON decodes it (numbers are float64).
func Object(path string) (map[string]any, error) {
	var obj map[string]any
	if err := ReadYAML(path, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// Normal is v after a JSON round trip, so that values decoded from YAML and
// values returned by Lua compare equal when they are.
func Normal(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode: %w", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("cannot decode: %w", err)
	}
	return out, nil
}

// Script reads one script of kind, e.g. "health.lua" or "actions/promote/action.lua".
func Script(kind, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(Root(), kind, name))
	if err != nil {
		return "", fmt.Errorf("cannot read script: %w", err)
	}
	return string(b), nil
}
