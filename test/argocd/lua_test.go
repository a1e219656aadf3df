package argocd_test

import (
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/test/argocd"
)

func init() {
	fixed := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	argocd.Clock = func() time.Time { return fixed }
}

// Every case of every health_test.yaml, run as Argo CD runs health.lua.
func TestHealthScripts(t *testing.T) {
	for _, kind := range argocd.Kinds {
		dir := filepath.Join(argocd.Root(), kind)
		script, err := argocd.Script(kind, "health.lua")
		if err != nil {
			t.Fatal(err)
		}
		var tests argocd.HealthTests
		if err := argocd.ReadYAML(filepath.Join(dir, "health_test.yaml"), &tests); err != nil {
			t.Fatal(err)
		}
		if len(tests.Tests) < 5 {
			t.Fatalf("%s: only %d health tests", kind, len(tests.Tests))
		}
		for _, tc := range tests.Tests {
			t.Run(kind+"/"+tc.InputPath, func(t *testing.T) {
				got := health(t, script, filepath.Join(dir, tc.InputPath))
				if got != tc.HealthStatus {
					t.Errorf("health = %+v, want %+v", got, tc.HealthStatus)
				}
			})
		}
	}
}

func health(t *testing.T, script, path string) argocd.HealthStatus {
	t.Helper()
	obj, err := argocd.Object(path)
	if err != nil {
		t.Fatal(err)
	}
	ret, err := argocd.Run(script, obj)
	if err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	m, _ := ret.(map[string]any)
	status, _ := m["status"].(string)
	message, _ := m["message"].(string)
	return argocd.HealthStatus{Status: status, Message: message}
}

// Every discovery and action case of every actions/action_test.yaml.
func TestActionScripts(t *testing.T) {
	for _, kind := range argocd.Kinds {
		dir := filepath.Join(argocd.Root(), kind)
		var tests argocd.ActionTests
		if err := argocd.ReadYAML(filepath.Join(dir, "actions", "action_test.yaml"), &tests); err != nil {
			t.Fatal(err)
		}
		discovery, err := argocd.Script(kind, "actions/discovery.lua")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests.DiscoveryTests {
			t.Run(kind+"/discovery/"+tc.InputPath, func(t *testing.T) {
				obj, err := argocd.Object(filepath.Join(dir, tc.InputPath))
				if err != nil {
					t.Fatal(err)
				}
				ret, err := argocd.Run(discovery, obj)
				if err != nil {
					t.Fatalf("discovery.lua: %v", err)
				}
				got := discovered(ret)
				want := append([]argocd.DiscoveredAction(nil), tc.Result...)
				sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
				if !reflect.DeepEqual(got, want) {
					t.Errorf("actions = %+v, want %+v", got, want)
				}
			})
		}
		for _, tc := range tests.ActionTests {
			t.Run(kind+"/"+tc.Action+"/"+tc.InputPath, func(t *testing.T) {
				script, err := argocd.Script(kind, filepath.Join("actions", tc.Action, "action.lua"))
				if err != nil {
					t.Fatal(err)
				}
				in, err := argocd.Object(filepath.Join(dir, tc.InputPath))
				if err != nil {
					t.Fatal(err)
				}
				ret, err := argocd.Run(script, in)
				if err != nil {
					t.Fatalf("%s: %v", tc.Action, err)
				}
				want, err := argocd.Object(filepath.Join(dir, tc.ExpectedOutputPath))
				if err != nil {
					t.Fatal(err)
				}
				got, err := argocd.Normal(ret)
				if err != nil {
					t.Fatal(err)
				}
				wantN, _ := argocd.Normal(want)
				if !reflect.DeepEqual(got, wantN) {
					t.Errorf("%s of %s:\n got %v\nwant %v", tc.Action, tc.InputPath, got, wantN)
				}
			})
		}
	}
}

// An action that does not apply fails with a message instead of writing an
// annotation that names nothing.
func TestActionsRefuseWhatDoesNotApply(t *testing.T) {
	for _, tc := range []struct{ action, input, want string }{
		{"promote", "healthy.yaml", "no candidate awaits promotion"},
		{"abort", "healthy_first_revision.yaml", "nothing to abort: no candidate, and no previous revision to roll back to"},
		{"abort", "aborted.yaml", "nothing to abort: no candidate, and no previous revision to roll back to"},
		{"skip-promotion-gate", "healthy.yaml", "no release waits for its upstreams"},
		{"skip-promotion-gate", "awaiting_promotion.yaml", "no release waits for its upstreams"},
		{"promote-group", "awaiting_promotion.yaml", "no release of a release group awaits approval"},
	} {
		script, err := argocd.Script("SiteDeployment", filepath.Join("actions", tc.action, "action.lua"))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := argocd.Object(filepath.Join(argocd.Root(), "SiteDeployment", "testdata", tc.input))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := argocd.Run(script, obj); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s on %s: err = %v, want %q", tc.action, tc.input, err, tc.want)
		}
	}
}

func discovered(ret any) []argocd.DiscoveredAction {
	m, _ := ret.(map[string]any)
	var out []argocd.DiscoveredAction
	for name, v := range m {
		a := argocd.DiscoveredAction{Name: name}
		if fields, ok := v.(map[string]any); ok {
			a.Disabled, _ = fields["disabled"].(bool)
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
