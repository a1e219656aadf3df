package argocd_test

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/understudy-dev/understudy/test/argocd"
	"github.com/understudy-dev/understudy/test/testenv"
)

// The component patches argocd-cm wherever the Argo CD install puts it: with
// no namespace (the upstream install.yaml), in the kustomization's namespace,
// or in a namespace written on the ConfigMap itself (an install that carries
// `metadata.namespace: argocd`), as `kubectl apply -k` builds it.
func TestComponentPatchesArgoCDConfigMap(t *testing.T) {
	for name, c := range map[string]struct{ cmNamespace, kustNamespace string }{
		"no namespace":                   {},
		"namespace on the ConfigMap":     {cmNamespace: "argocd"},
		"namespace of the kustomization": {kustNamespace: "argocd"},
		"both":                           {cmNamespace: "argocd", kustNamespace: "argocd"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			component := filepath.Join(testenv.RepoRoot(), "config", "argocd")
			rel, err := filepath.Rel(dir, component)
			if err != nil {
				t.Fatal(err)
			}
			cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n"
			if c.cmNamespace != "" {
				cm += "  namespace: " + c.cmNamespace + "\n"
			}
			cm += "data:\n  url: https://argocd.example.com\n"
			kust := "resources:\n- argocd-cm.yaml\ncomponents:\n- " + rel + "\n"
			if c.kustNamespace != "" {
				kust = "namespace: " + c.kustNamespace + "\n" + kust
			}
			write(t, filepath.Join(dir, "argocd-cm.yaml"), cm)
			write(t, filepath.Join(dir, "kustomization.yaml"), kust)

			res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
			if err != nil {
				t.Fatalf("kustomize build with the component: %v", err)
			}
			if res.Size() != 1 {
				t.Fatalf("%d objects, want argocd-cm alone", res.Size())
			}
			out, err := res.Resources()[0].AsYAML()
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Metadata struct{ Namespace string } `json:"metadata"`
				Data     map[string]string          `json:"data"`
			}
			if err := yaml.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			want := c.cmNamespace
			if c.kustNamespace != "" {
				want = c.kustNamespace
			}
			if got.Metadata.Namespace != want {
				t.Errorf("namespace %q, want %q", got.Metadata.Namespace, want)
			}
			if got.Data["url"] != "https://argocd.example.com" {
				t.Errorf("the install's own keys were lost: %v", got.Data)
			}
			for _, kind := range argocd.Kinds {
				health, _ := argocd.Script(kind, "health.lua")
				if got.Data[argocd.HealthKey(kind)] != health {
					t.Errorf("%s missing or different", argocd.HealthKey(kind))
				}
				if got.Data[argocd.ActionsKey(kind)] == "" {
					t.Errorf("%s missing", argocd.ActionsKey(kind))
				}
			}
		})
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
