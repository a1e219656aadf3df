package argocd_test

import (
	"path/filepath"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"

	"github.com/understudy-dev/understudy/test/argocd"
	"github.com/understudy-dev/understudy/test/testenv"
)

// healthCheckExpr is one entry of a Kustomization's .spec.healthCheckExprs.
type healthCheckExpr struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	InProgress string `json:"inProgress"`
	Failed     string `json:"failed"`
	Current    string `json:"current"`
}

// fluxStatus evaluates the entry as Flux's kustomize-controller does: the
// expressions are parsed (not type-checked) in an environment with optional
// types and the strings, sets and encoders extensions, the object's
// top-level fields are the variables, a lagging observedGeneration is
// InProgress, then inProgress, failed and current are tried in that order,
// and none true is InProgress. An evaluation error is Unknown (Flux waits).
func fluxStatus(t *testing.T, e healthCheckExpr, obj map[string]any) string {
	t.Helper()
	if st, ok := obj["status"].(map[string]any); ok {
		meta, _ := obj["metadata"].(map[string]any)
		if og, ok := st["observedGeneration"].(float64); ok && og != meta["generation"] {
			return "InProgress"
		}
	}
	env, err := cel.NewEnv(cel.HomogeneousAggregateLiterals(), cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true), cel.CrossTypeNumericComparisons(true), cel.OptionalTypes(),
		ext.Strings(), ext.Sets(), ext.Encoders())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ expr, status string }{{e.InProgress, "InProgress"}, {e.Failed, "Failed"}, {e.Current, "Current"}} {
		ast, iss := env.Parse(c.expr)
		if iss.Err() != nil {
			t.Fatalf("cannot parse %q: %v", c.expr, iss.Err())
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			t.Fatal(err)
		}
		val, _, err := prg.Eval(obj)
		if err != nil {
			return "Unknown"
		}
		if b, ok := val.(types.Bool); !ok {
			t.Fatalf("%q returned %v, not a bool", c.expr, val)
		} else if b {
			return c.status
		}
	}
	return "InProgress"
}

// The shipped healthCheckExprs against the fixtures of every phase, the same
// objects the Argo CD health checks are tested with.
func TestFluxHealthCheckExprs(t *testing.T) {
	var exprs []healthCheckExpr
	if err := argocd.ReadYAML(filepath.Join(testenv.RepoRoot(), "config", "flux", "health-check-exprs.yaml"), &exprs); err != nil {
		t.Fatal(err)
	}
	byKind := map[string]healthCheckExpr{}
	for _, e := range exprs {
		if e.APIVersion != argocd.Group+"/v1alpha1" {
			t.Errorf("%s: apiVersion %s", e.Kind, e.APIVersion)
		}
		byKind[e.Kind] = e
	}
	cases := map[string]map[string]string{
		"SiteDeployment": {
			"no_status": "Unknown", "new_generation": "InProgress", "progressing": "InProgress",
			"awaiting_promotion": "Current", "awaiting_upstream": "Current",
			// A metric check held inconclusive waits for a person, as an approval does.
			"awaiting_promotion_inconclusive": "Current", "promoting": "InProgress", "healthy": "Current",
			"healthy_first_revision": "Current", "degraded": "Failed", "aborted": "Failed",
			"stalled_database": "Failed", "paused": "Current",
			"paused_after_failure": "Failed", // pausing does not hide a failure
			// Flux reads a lagging observedGeneration as InProgress before any
			// expression: a database error on the first reconcile of a new
			// generation is Failed only once the controller records the generation.
			"stalled_database_new_generation": "InProgress",
		},
		"DatabaseRefresh": {
			"no_status": "Unknown", "new_generation": "InProgress", "scheduled": "Current",
			"succeeded": "Current", "running": "InProgress", "failed": "Failed",
			"running_after_failure": "InProgress", "suspended": "Current", "invalid_spec": "Failed",
		},
	}
	for kind, want := range cases {
		e, ok := byKind[kind]
		if !ok {
			t.Fatalf("no healthCheckExprs entry for %s", kind)
		}
		for name, status := range want {
			t.Run(kind+"/"+name, func(t *testing.T) {
				obj, err := argocd.Object(filepath.Join(argocd.Root(), kind, "testdata", name+".yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if got := fluxStatus(t, e, obj); got != status {
					t.Errorf("Flux reads %s, want %s", got, status)
				}
			})
		}
	}
}
