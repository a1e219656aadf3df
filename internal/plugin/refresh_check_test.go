package plugin_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/plugin"
)

func maskingPolicy() *v1.MaskingPolicy {
	return &v1.MaskingPolicy{Tables: []v1.TableMasking{
		{Name: "public.customers", Keep: []string{"id"}, Mask: []v1.ColumnMask{{Column: "email", Builtin: v1.MaskEmail}}},
		{Name: "public.payment_cards", Truncate: true},
	}}
}

func TestRefreshCheckPrintsTheUnclassifiedColumnsOfTheLastBackup(t *testing.T) {
	ctx := context.Background()
	dbr := newRefresh(t, "dev-check")
	dbr.Spec.Masking = maskingPolicy()
	if err := env.Client.Update(ctx, dbr); err != nil {
		t.Fatal(err)
	}
	dbr.Status.LastRefresh = &v1.RefreshRecord{Job: "dev-check-29", Source: "shop-2.dump", Result: v1.RefreshFailed, FailedStep: "mask",
		Masking: &v1.MaskingCheck{Columns: 17,
			Unclassified: []string{"public.customers.tax_id", "public.payment_cards.pan"}, UnclassifiedCount: 2,
			Unknown: []string{"public.customers.fax"}, UnknownCount: 1}}
	if err := env.Client.Status().Update(ctx, dbr); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "refresh", "check", dbr.Name)
	if code != 1 || !strings.Contains(errOut, "1 of the names the last refresh found are not settled by the current spec") {
		t.Errorf("exit %d, stderr %q: want 1 with the count of open names", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := [][]string{
		{"Job dev-check-29 compared spec.masking with the backup shop-2.dump: 17 columns, 2 unclassified, 1 unknown names"},
		{"NAME", "FOUND", "CURRENT SPEC"},
		{"public.customers.tax_id", "not classified", "still not classified"},
		{"public.payment_cards.pan", "not classified", "classified now"}, // the table is truncated in the spec
		{"public.customers.fax", "named by the policy, not in the backup", "removed now"},
		{"Add each unclassified column to its table's keep or mask list in spec.masking", "kubectl understudy refresh now dev-check"},
	}
	if len(lines) != len(want) {
		t.Fatalf("output has %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, parts := range want {
		for _, p := range parts {
			if !strings.Contains(lines[i], p) {
				t.Errorf("line %d %q lacks %q", i+1, lines[i], p)
			}
		}
	}
}

func TestRefreshCheckWithoutAComparison(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dbr    v1.DatabaseRefresh
		out    string
		failed bool
	}{
		{"no policy", v1.DatabaseRefresh{}, "has no masking policy (spec.masking)", true},
		{"never ran", v1.DatabaseRefresh{Spec: v1.DatabaseRefreshSpec{Masking: maskingPolicy()}}, "no refresh has compared spec.masking with a backup yet\n", true},
		{"failed before the comparison", v1.DatabaseRefresh{Spec: v1.DatabaseRefreshSpec{Masking: maskingPolicy()},
			Status: v1.DatabaseRefreshStatus{LastRefresh: &v1.RefreshRecord{Job: "j-1", Result: v1.RefreshFailed, FailedStep: "source", Message: "no backup in /backup matches *.dump"}}},
			"failed in step source before the comparison: no backup in /backup matches *.dump", true},
		{"all classified", v1.DatabaseRefresh{Spec: v1.DatabaseRefreshSpec{Masking: maskingPolicy()},
			Status: v1.DatabaseRefreshStatus{LastRefresh: &v1.RefreshRecord{Job: "j-2", Source: "shop-1.dump", Result: v1.RefreshSucceeded, Masking: &v1.MaskingCheck{Columns: 14}}}},
			"14 columns, 0 unclassified, 0 unknown names\nEvery column of the backup is classified.", false},
		{"more than listed", v1.DatabaseRefresh{Spec: v1.DatabaseRefreshSpec{Masking: maskingPolicy()},
			Status: v1.DatabaseRefreshStatus{LastRefresh: &v1.RefreshRecord{Job: "j-3", Result: v1.RefreshFailed,
				Masking: &v1.MaskingCheck{Columns: 90, Unclassified: []string{"public.wide.c1"}, UnclassifiedCount: 40}}}},
			"... and 39 more not listed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := plugin.WriteRefreshCheck(&b, &tc.dbr)
			if !strings.Contains(b.String(), tc.out) || (err != nil) != tc.failed {
				t.Errorf("output %q, error %v; want %q, failed %v", b.String(), err, tc.out, tc.failed)
			}
		})
	}
}
