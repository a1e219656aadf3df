package refreshjob

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/masking"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

func maskedRefresh() *deployv1alpha1.DatabaseRefresh {
	dr := backupRefresh()
	dr.Spec.Masking = &deployv1alpha1.MaskingPolicy{Tables: []deployv1alpha1.TableMasking{
		{Name: "public.users", Keep: []string{"id"}, Mask: []deployv1alpha1.ColumnMask{
			{Column: "email", Builtin: deployv1alpha1.MaskEmail}, {Column: "note", SQL: "'n' || id"}}},
		{Name: "public.audit_log", Truncate: true},
	}}
	return dr
}

func TestThePolicyReachesTheRunnerBesideTheSanitizeSQL(t *testing.T) {
	dr := maskedRefresh()
	cm := SanitizeConfigMap(dr, map[string]string{SanitizeKey(0): "DELETE FROM sessions"})
	var got masking.Policy
	if err := json.Unmarshal([]byte(cm.Data[MaskingKey]), &got); err != nil {
		t.Fatalf("%s: %v", MaskingKey, err)
	}
	want := masking.Policy{Tables: []masking.Table{
		{Name: "public.users", Keep: []string{"id"}, Mask: []masking.Mask{{Column: "email", Builtin: "Email"}, {Column: "note", SQL: "'n' || id"}}},
		{Name: "public.audit_log", Truncate: true},
	}}
	if raw, _ := json.Marshal(want); cm.Data[MaskingKey] != string(raw) {
		t.Errorf("policy = %s, want %s", cm.Data[MaskingKey], raw)
	}
	if cm.Data[SanitizeKey(0)] != "DELETE FROM sessions" {
		t.Errorf("the sanitize SQL is gone: %v", cm.Data)
	}
	args := CronJob(dr, "runner:1").Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	if i := slices.Index(args, "--masking"); i < 0 || args[i+1] != "/sanitize/masking.json" {
		t.Errorf("args = %v, want --masking /sanitize/masking.json", args)
	}

	dr.Spec.Masking = nil
	if cm := SanitizeConfigMap(dr, nil); len(cm.Data) != 0 {
		t.Errorf("data without a policy = %v", cm.Data)
	}
	if args := CronJob(dr, "runner:1").Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args; slices.Contains(args, "--masking") {
		t.Errorf("args without a policy = %v", args)
	}
}

func TestAnUnclassifiedColumnIsNamedInTheDegradedCondition(t *testing.T) {
	// The runner's own words, through its termination message.
	cat := masking.Catalog{Columns: []masking.Column{
		{Table: masking.Relation{Schema: "public", Name: "users"}, Name: "id"},
		{Table: masking.Relation{Schema: "public", Name: "users"}, Name: "ssn"},
	}}
	_, rep, err := masking.Decide(masking.Policy{Tables: []masking.Table{{Name: "public.users", Keep: []string{"id"}}}}, cat)
	if err == nil {
		t.Fatal("an unclassified column passed")
	}
	msg, _ := json.Marshal(refreshwire.Result{Result: refreshwire.Failed, Step: refreshwire.StepMask, Error: err.Error(), Masking: &rep})
	res, perr := ParseResult(string(msg))
	if perr != nil {
		t.Fatal(perr)
	}
	failed := ObservedJob{Name: "r-1", State: JobFailed, Start: t0, Finish: t0.Add(time.Minute)}
	p := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, Observation{Now: t0, Generation: 1, Schedule: schedule(t),
		Jobs: []ObservedJob{failed}, Finished: &Finished{Job: failed, Result: res}})
	wantCond(t, p.Status, deployv1alpha1.ConditionDegraded, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshFailed)
	c := cond(t, p.Status, deployv1alpha1.ConditionReady)
	for _, want := range []string{"dev keeps its previous copy", "public.users.ssn", "add each to its table's keep or mask list in spec.masking"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Ready message does not say %q: %s", want, c.Message)
		}
	}
	rec := p.Status.LastRefresh
	if rec.FailedStep != "mask" || rec.Masking == nil || !slices.Equal(rec.Masking.Unclassified, []string{"public.users.ssn"}) ||
		rec.Masking.UnclassifiedCount != 1 || rec.Masking.Columns != 2 {
		t.Errorf("lastRefresh = %+v masking %+v", rec, rec.Masking)
	}
}

func TestTheWorstMaskingFailureFitsTheTerminationMessage(t *testing.T) {
	// The kubelet keeps 4096 bytes of a termination message: a result cut
	// there would not parse, and the failure would lose its names.
	long := strings.Repeat("x", 63)
	var cat masking.Catalog
	p := masking.Policy{}
	for i := range 100 {
		rel := masking.Relation{Schema: long, Name: long[:60] + strconv.Itoa(100+i)}
		cat.Columns = append(cat.Columns, masking.Column{Table: rel, Name: long, NotNull: true})
		p.Tables = append(p.Tables, masking.Table{Name: long + ".gone" + strconv.Itoa(i), Truncate: true})
	}
	p.Tables = append(p.Tables, masking.Table{Name: cat.Columns[0].Table.String(), Mask: []masking.Mask{{Column: long, Builtin: masking.BuiltinNull}}})
	_, rep, err := masking.Decide(p, cat)
	if err == nil {
		t.Fatal("no error")
	}
	msg, _ := json.Marshal(refreshwire.Result{Result: refreshwire.Failed, Step: refreshwire.StepMask, Error: err.Error(), Masking: &rep,
		Source: strings.Repeat("s", 255), Target: strings.Repeat("t", 43), DurationsMs: map[string]int64{"restore": 1 << 40, "sanitize": 1 << 40, "mask": 1 << 40, "total": 1 << 40}})
	t.Logf("the worst result is %d bytes", len(msg))
	if len(msg) > 4096 {
		t.Fatalf("the result is %d bytes, more than a termination message holds", len(msg))
	}
	if res, err := ParseResult(string(msg)); err != nil || res.Masking.UnclassifiedCount != 99 || res.Masking.UnknownCount != 100 {
		t.Errorf("parsed %+v, %v", res, err)
	}
}
