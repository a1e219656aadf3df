package conditions

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func TestSetWritesTheSummaryFirstInOneOrder(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	conds := []metav1.Condition{
		{Type: "Other", Status: metav1.ConditionTrue, Reason: "Mine"},
		{Type: v1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "Old", LastTransitionTime: metav1.NewTime(t0)},
		{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Old", LastTransitionTime: metav1.NewTime(t0)},
	}
	Set(&conds, Summary{Ready: Condition{Reason: v1.ReasonPaused, Message: "paused"},
		Progressing: When(false, v1.ReasonPaused, "paused"), Degraded: When(true, "Failed", "it failed")}, 3, t0.Add(time.Hour))
	var order []string
	for _, c := range conds {
		order = append(order, c.Type)
	}
	want := []string{v1.ConditionReady, v1.ConditionProgressing, v1.ConditionReconciling, v1.ConditionDegraded, v1.ConditionStalled, "Other"}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
	ready := meta.FindStatusCondition(conds, v1.ConditionReady)
	if ready.Status != metav1.ConditionFalse || ready.Reason != v1.ReasonPaused || ready.ObservedGeneration != 3 || !ready.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Ready = %+v, want its status and transition time kept", ready)
	}
	if s := meta.FindStatusCondition(conds, v1.ConditionStalled); s.Reason != "Failed" || !s.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Stalled = %+v", s)
	}
	if d := meta.FindStatusCondition(conds, v1.ConditionDegraded); !d.LastTransitionTime.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("a new Degraded changed at %v, want now", d.LastTransitionTime)
	}
}
