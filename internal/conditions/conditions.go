// Package conditions writes the summary conditions both kinds carry, in
// one fixed order and with kstatus semantics (sigs.k8s.io/cli-utils/pkg/
// kstatus), so Argo CD, Flux and `kubectl wait` read every object alike.
//
// kstatus looks at, in order: deletion, observedGeneration, Reconciling
// (True: InProgress), Stalled (True: Failed), Ready. So:
//   - Ready is True when the object is what its spec asks for;
//   - Progressing (and its kstatus name Reconciling) is True while the
//     controller works towards the spec and nothing failed: a failure
//     always turns Reconciling False, or kstatus would read InProgress
//     instead of Failed;
//   - Degraded (and its kstatus name Stalled) is True when the last attempt
//     failed and needs a person.
package conditions

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Summary is the state the conditions describe.
type Summary struct {
	// Ready is the Ready condition's status; "" keeps the current one (or
	// Unknown when there is none), and the current Degraded with it, as a
	// paused object does: pausing neither makes nor hides a failure.
	Ready metav1.ConditionStatus
	// Progressing: work towards the spec is under way.
	Progressing bool
	// Degraded: the last attempt failed and needs a person. It wins over
	// Progressing.
	Degraded bool
	// Reason and Message go on every condition.
	Reason, Message string
}

// Set writes the five conditions from s, in a fixed order; a condition
// whose status does not change keeps its lastTransitionTime.
func Set(conds *[]metav1.Condition, s Summary, generation int64, now time.Time) {
	ready, degraded := s.Ready, status(s.Degraded)
	if ready == "" {
		ready = metav1.ConditionUnknown
		if c := meta.FindStatusCondition(*conds, v1.ConditionReady); c != nil {
			ready = c.Status
		}
		if c := meta.FindStatusCondition(*conds, v1.ConditionDegraded); c != nil {
			degraded = c.Status
		}
	}
	progressing := status(s.Progressing && degraded != metav1.ConditionTrue)
	at := metav1.NewTime(now.Truncate(time.Second))
	for _, c := range []struct {
		t string
		s metav1.ConditionStatus
	}{
		{v1.ConditionReady, ready},
		{v1.ConditionProgressing, progressing}, {v1.ConditionReconciling, progressing},
		{v1.ConditionDegraded, degraded}, {v1.ConditionStalled, degraded},
	} {
		meta.SetStatusCondition(conds, metav1.Condition{Type: c.t, Status: c.s, Reason: s.Reason, Message: s.Message,
			ObservedGeneration: generation, LastTransitionTime: at})
	}
}

func status(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}
