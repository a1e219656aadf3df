// Command crdtrim strips the descriptions inside embedded Kubernetes types
// (pod templates, volumes, env, ...) from the CRDs controller-gen wrote, so
// that the CRDs stay small enough for client-side apply and `kubectl explain`
// stays readable. Our own fields keep their documentation, and so does each
// embedded field itself. It rewrites the files given as arguments in place.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// embedded lists, per schema path (".items" for list elements), the fields
// whose type comes from k8s.io/api and is documented upstream.
var embedded = []string{
	"spec.template",
	"spec.strategy.prePromotion.template",
	"spec.strategy.postPromotion.template",
	"spec.database.migration.template",
	"spec.source.backup.volume",
	"spec.sanitize.items.configMapKeyRef",
	"spec.jobTemplate.resources",
	"spec.jobTemplate.tolerations",
	"spec.jobTemplate.env",
	"status.conditions",
}

func main() {
	for _, path := range os.Args[1:] {
		if err := trimFile(path); err != nil {
			fmt.Fprintf(os.Stderr, "crdtrim: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func trimFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return fmt.Errorf("cannot parse: %w", err)
	}
	versions, _ := dig(crd, "spec", "versions").([]any)
	for _, v := range versions {
		root, _ := dig(v, "schema", "openAPIV3Schema").(map[string]any)
		for _, p := range embedded {
			if node := schemaAt(root, strings.Split(p, ".")); node != nil {
				for _, child := range children(node) {
					stripDescriptions(child)
				}
			}
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	if bytes.Equal(out, raw) {
		return nil
	}
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}

// schemaAt follows property names (and "items") from a schema node.
func schemaAt(node map[string]any, path []string) map[string]any {
	for _, name := range path {
		if node == nil {
			return nil
		}
		if name == "items" {
			node, _ = node["items"].(map[string]any)
			continue
		}
		node, _ = dig(node, "properties", name).(map[string]any)
	}
	return node
}

// children are the sub-schemas of a node: its properties, items and additionalProperties.
func children(node map[string]any) []map[string]any {
	var out []map[string]any
	if props, ok := node["properties"].(map[string]any); ok {
		for _, p := range props {
			if m, ok := p.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	for _, key := range []string{"items", "additionalProperties"} {
		if m, ok := node[key].(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func stripDescriptions(node map[string]any) {
	delete(node, "description")
	for _, child := range children(node) {
		stripDescriptions(child)
	}
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
