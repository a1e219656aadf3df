package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/understudy-dev/understudy/test/testenv"
)

func TestSamplesAreAcceptedWithDefaults(t *testing.T) {
	ns := namespace(t, "samples")
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(raw), "\n---") {
			obj := decode(t, doc)
			if obj.GetAPIVersion() != "deploy.understudy.dev/v1alpha1" {
				continue
			}
			obj.SetNamespace(ns)
			if err := env.Client.Create(context.Background(), obj); err != nil {
				t.Fatalf("%s: sample %s rejected: %v", filepath.Base(f), obj.GetName(), err)
			}
			applied++
			checkDefaults(t, obj)
		}
	}
	if applied < 2 {
		t.Fatalf("only %d samples applied", applied)
	}
}

// checkDefaults asserts the API server filled in the documented defaults, so
// `kubectl get -o yaml` shows them.
func checkDefaults(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	want := map[string][][]string{
		"SiteDeployment": {
			{"spec", "revisionHistoryLimit"}, {"spec", "service", "type"},
			{"spec", "strategy", "prePromotion", "backoffLimit"},
		},
		"DatabaseRefresh": {
			{"spec", "successfulJobsHistoryLimit"}, {"spec", "failedJobsHistoryLimit"},
		},
	}[obj.GetKind()]
	for _, path := range want {
		if _, found, _ := unstructured.NestedFieldNoCopy(obj.Object, path...); !found {
			t.Errorf("%s %s: default of %s not applied", obj.GetKind(), obj.GetName(), strings.Join(path, "."))
		}
	}
}
