// Package conditions writes the summary conditions both kinds carry, in
// one fixed order and with kstatus semantics (sigs.k8s.io/cli-utils/pkg/
// kstatus), so Argo CD, Flux and `kubectl wait` read every object alike.
// It is the only writer of those conditions.
//
// kstatus looks at, in order: deletion, observedGeneration, Reconciling
// (True: InProgress), Stalled (True: Failed), Ready. So:
//   - Ready is True when the object is what its spec asks for;
//   - Progressing (and its kstatus name Reconciling) is True while the
//     controller works towards the spec. Reconciling wins over Stalled: work
//     that a failure stopped must turn Progressing False, or kstatus reads
//     InProgress instead of Failed; a new attempt after a failure (a refresh
//     retrying) is InProgress while it runs;
//   - Degraded (and its kstatus name Stalled) is True when the last attempt
//     failed and needs a person.
package conditions

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Condition is what one summary condition says.
type Condition struct {
	Status          metav1.ConditionStatus
	Reason, Message string
}

// When is a condition that is True when b holds, False otherwise.
func When(b bool, reason, message string) Condition {
	s := metav1.ConditionFalse
	if b {
		s = metav1.ConditionTrue
	}
	return Condition{Status: s, Reason: reason, Message: message}
}

// Summary is the state the conditions describe.
type Summary struct {
	// Ready: the object is what its spec asks for. Status "" keeps the
	// current one (or Unknown when there is none), and the current
	// Degraded status with it, as a paused object does: pausing neither
	// makes nor hides a failure.
	Ready Condition
	// Progressing: work towards the spec is under way. It is written as
	// Progressing and Reconciling.
	Progressing Condition
	// Degraded: the last attempt failed and needs a person. It is written as
	// Degraded and Stalled.
	Degraded Condition
}

// Uniform is a summary whose three conditions share one reason and
// message: ready is Ready's status ("" keeps it).
func Uniform(ready metav1.ConditionStatus, progressing, degraded bool, reason, message string) Summary {
	return Summary{
		Ready:       Condition{Status: ready, Reason: reason, Message: message},
		Progressing: When(progressing, reason, message),
		Degraded:    When(degraded, reason, message),
	}
}

// order is the fixed order of the summary conditions, first in the list;
// other condition types follow in the order they had.
var order = []string{v1.ConditionReady, v1.ConditionProgressing, v1.ConditionReconciling, v1.ConditionDegraded, v1.ConditionStalled}

// Set writes the five conditions from s, in the fixed order; a condition
// whose status does not change keeps its lastTransitionTime.
func Set(conds *[]metav1.Condition, s Summary, generation int64, now time.Time) {
	ready, degraded := s.Ready, s.Degraded
	if ready.Status == "" {
		ready.Status = metav1.ConditionUnknown
		if c := meta.FindStatusCondition(*conds, v1.ConditionReady); c != nil {
			ready.Status = c.Status
		}
		if c := meta.FindStatusCondition(*conds, v1.ConditionDegraded); c != nil {
			degraded.Status = c.Status
		}
	}
	at := metav1.NewTime(now.Truncate(time.Second).UTC())
	for i, c := range []Condition{ready, s.Progressing, s.Progressing, degraded, degraded} {
		meta.SetStatusCondition(conds, metav1.Condition{Type: order[i], Status: c.Status, Reason: c.Reason, Message: c.Message,
			ObservedGeneration: generation, LastTransitionTime: at})
	}
	slices.SortStableFunc(*conds, func(a, b metav1.Condition) int { return rank(a.Type) - rank(b.Type) })
}

func rank(t string) int {
	if i := slices.Index(order, t); i >= 0 {
		return i
	}
	return len(order)
}
