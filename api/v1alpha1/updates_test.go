package v1alpha1_test

import (
	"context"
	"strings"
	"testing"
)

func TestDatabaseCannotBeRemovedOrRenamed(t *testing.T) {
	ns := namespace(t, "db-updates")
	ctx := context.Background()
	obj := decode(t, siteYAML)
	obj.SetNamespace(ns)
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, wantField string
		mutate          func(map[string]any)
	}{
		{"remove spec.database", "spec.database cannot be removed", drop("spec", "database")},
		{"rename spec.database.name", "spec.database.name cannot change", set("other", "spec", "database", "name")},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := obj.DeepCopy()
			c.mutate(u.Object)
			err := env.Client.Update(ctx, u)
			if err == nil || !strings.Contains(err.Error(), c.wantField) {
				t.Fatalf("update: %v, want an error saying %q", err, c.wantField)
			}
		})
	}
	u := obj.DeepCopy()
	set("2", "spec", "database", "schemaRevision")(u.Object)
	if err := env.Client.Update(ctx, u); err != nil {
		t.Fatalf("a new schemaRevision must be accepted: %v", err)
	}
}
