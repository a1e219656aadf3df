package controllers_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/masking"
	"github.com/understudy-dev/understudy/internal/refresh"
)

func TestAnUnclassifiedColumnIsAConditionAPersonCanActOn(t *testing.T) {
	ctx := context.Background()
	r := newRefresh(t, func(dr *v1.DatabaseRefresh) {
		dr.Spec.Masking = &v1.MaskingPolicy{Tables: []v1.TableMasking{{Name: "public.users", Keep: []string{"id"},
			Mask: []v1.ColumnMask{{Column: "email", Builtin: v1.MaskEmail}}}}}
	})
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)

	// The policy reaches the runner beside the sanitize SQL.
	cm := &corev1.ConfigMap{}
	if err := k8sClient.Get(ctx, r.key("nightly-sanitize"), cm); err != nil {
		t.Fatal(err)
	}
	var p masking.Policy
	if err := json.Unmarshal([]byte(cm.Data["masking.json"]), &p); err != nil || len(p.Tables) != 1 || p.Tables[0].Mask[0].Builtin != "Email" {
		t.Errorf("masking.json = %q (%v)", cm.Data["masking.json"], err)
	}
	if cm.Data["000.sql"] == "" {
		t.Errorf("the sanitize SQL is gone: %v", cm.Data)
	}
	if args := strings.Join(r.cronJob().Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--masking /sanitize/masking.json") {
		t.Errorf("args = %s", args)
	}

	// A release added users.ssn: the runner refuses the copy, in its own words.
	_, rep, err := masking.Decide(p, masking.Catalog{Columns: []masking.Column{
		{Table: masking.Relation{Schema: "public", Name: "users"}, Name: "id"},
		{Table: masking.Relation{Schema: "public", Name: "users"}, Name: "email", NotNull: true},
		{Table: masking.Relation{Schema: "public", Name: "users"}, Name: "ssn"},
	}})
	if err == nil {
		t.Fatal("an unclassified column passed")
	}
	r.runJob("nightly-1", false, refresh.Result{Result: refresh.Failed, Step: refresh.StepMask, Error: err.Error(), Masking: &rep},
		time.Now().UTC().Truncate(time.Second))
	dr := r.waitCondition(v1.ConditionDegraded, metav1.ConditionTrue, v1.ReasonRefreshFailed)
	for _, typ := range []string{v1.ConditionReady, v1.ConditionDegraded} {
		c := refreshCondition(dr, typ)
		for _, want := range []string{"dev keeps its previous copy", "public.users.ssn", "add each to its table's keep or mask list in spec.masking"} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("%s message does not say %q: %s", typ, want, c.Message)
			}
		}
	}
	lr := dr.Status.LastRefresh
	if lr.FailedStep != refresh.StepMask || lr.Masking == nil || !slices.Equal(lr.Masking.Unclassified, []string{"public.users.ssn"}) ||
		lr.Masking.UnclassifiedCount != 1 || lr.Masking.Columns != 3 {
		t.Errorf("lastRefresh = %+v, masking %+v", lr, lr.Masking)
	}
}
