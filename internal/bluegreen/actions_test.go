package bluegreen

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// manualSite is a site whose releases wait for a person and run a
// pre-promotion check, as the demo's production site does.
func manualSite(s *v1.SiteDeployment) {
	s.Spec.Strategy.AutoPromote = ptr.To(false)
	s.Spec.Strategy.PrePromotion = check()
}

// promoteManually takes a release of img through its check and approval.
func (w *world) promoteManually(img string) {
	w.t.Helper()
	w.advance(time.Minute)
	w.release(img)
	w.reconcile()
	idle := w.site.Status.ActiveColor.Other()
	w.available(idle)
	w.reconcile()
	w.finishJob(CheckJobName("shop", rev(img), PrePromotion), true)
	w.reconcile()
	live := w.site.Status.ActiveRevision
	w.expect(v1.PhaseAwaitingPromotion, idle.Other(), live)
	w.expectRollback("") // a candidate is in flight: abort it instead
	w.annotate(v1.AnnotationPromote, rev(img))
	w.reconcile()
	w.expect(v1.PhaseHealthy, idle, rev(img))
	w.expectRollback(live)
}

// expectRollback checks status.rollbackRevision, which tools read to offer
// a rollback exactly when the controller would accept one.
func (w *world) expectRollback(want string) {
	w.t.Helper()
	if got := w.site.Status.RollbackRevision; got != want {
		w.t.Fatalf("status.rollbackRevision %q, want %q", got, want)
	}
}

func (w *world) action(annotation string) v1.ActionStatus {
	w.t.Helper()
	for _, a := range w.site.Status.Actions {
		if a.Annotation == annotation {
			return a
		}
	}
	w.t.Fatalf("status.actions has no answer for %s: %+v", annotation, w.site.Status.Actions)
	return v1.ActionStatus{}
}

func (w *world) events(reason string) []Event {
	var out []Event
	for _, e := range w.last.Events {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestRepeatedAbortNeverDeploysTheRejectedRevision(t *testing.T) {
	w := newWorld(t, manualSite)
	w.healthyOn("shop:1")
	w.promoteManually("shop:2")
	w.annotate(v1.AnnotationAbort, rev("shop:2")) // the demo's printed abort names the active revision
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	if a := w.action(v1.AnnotationAbort); a.Result != v1.ActionAccepted || !strings.Contains(a.Message, "rolling back to "+rev("shop:1")) {
		t.Fatalf("abort answer: %+v", a)
	}
	w.expectRollback("") // the controller refuses the same command again

	// The same printed command again now names shop:1, the live revision.
	w.annotate(v1.AnnotationAbort, rev("shop:1"))
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	a := w.action(v1.AnnotationAbort)
	if a.Result != v1.ActionRefused || a.Value != rev("shop:1") || !strings.Contains(a.Message, "set spec.template") {
		t.Fatalf("second abort answer: %+v", a)
	}
	if ev := w.events(v1.EventActionRefused); len(ev) != 1 || !ev[0].Warning {
		t.Fatalf("want one ActionRefused warning, got %+v", w.last.Events)
	}
	for i := 0; i < 5; i++ {
		w.advance(time.Second)
		w.reconcile()
		if w.replicas(v1.Green) > 0 && revisionOf(w.deps[v1.Green]) == rev("shop:2") && w.site.Status.PreviewRevision == rev("shop:2") {
			t.Fatal("the rejected revision shop:2 was started again")
		}
		if len(w.events(v1.EventActionRefused)) != 0 {
			t.Fatal("a refusal is reported once, not on every reconcile")
		}
	}
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	if len(w.jobs) != 1 {
		t.Fatalf("no check may run for the rejected revision: jobs %v", keys(w.jobs))
	}

	// Setting spec.template back to the live revision is Healthy.
	w.release("shop:1")
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Blue, rev("shop:1"))
	if w.site.Status.AbortedRevision != "" {
		t.Fatalf("abort not cleared: %s", w.site.Status.AbortedRevision)
	}
}

func TestAbortOfTheCandidateThenOfTheLiveRevisionIsRefused(t *testing.T) {
	w := newWorld(t, manualSite)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.annotate(v1.AnnotationAbort, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	w.annotate(v1.AnnotationAbort, rev("shop:1"))
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	if a := w.action(v1.AnnotationAbort); a.Result != v1.ActionRefused {
		t.Fatalf("abort of the live revision after the candidate's: %+v", a)
	}
	if w.replicas(v1.Green) != 0 || w.switches != 1 {
		t.Fatalf("green at %d after %d switches: the aborted candidate must stay down", w.replicas(v1.Green), w.switches)
	}
}

func TestAbortOfTheOnlyRevisionIsRefused(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.annotate(v1.AnnotationAbort, rev("shop:1"))
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Blue, rev("shop:1"))
	if a := w.action(v1.AnnotationAbort); a.Result != v1.ActionRefused || !strings.Contains(a.Message, "nothing to roll back to") {
		t.Fatalf("answer: %+v", a)
	}
	w.expectRollback("")
}

func TestAnAbortedRevisionComesBackOnlyAsANewReleaseWithItsChecks(t *testing.T) {
	w := newWorld(t, manualSite)
	w.healthyOn("shop:1")
	w.promoteManually("shop:2")
	w.annotate(v1.AnnotationAbort, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	w.promoteManually("shop:3") // green now runs shop:3, blue shop:1 warm
	w.release("shop:2")         // shop:2 was promoted once, then aborted
	w.reconcile()
	w.available(v1.Blue)
	w.reconcile() // the check Job of shop:2's first release goes
	w.reconcile()
	w.expect(v1.PhaseProgressing, v1.Green, rev("shop:3"))
	if !strings.Contains(w.site.Status.Message, "pre-promotion check") {
		t.Fatalf("want the pre-promotion check to run again, got: %s", w.site.Status.Message)
	}
	w.finishJob(CheckJobName("shop", rev("shop:2"), PrePromotion), true)
	w.reconcile()
	w.expect(v1.PhaseAwaitingPromotion, v1.Green, rev("shop:3"))
}

func TestARollbackSkipsRevisionsThatWereAborted(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.releaseReady("shop:2")
	w.annotate(v1.AnnotationAbort, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	w.releaseReady("shop:3")
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:3"))
	w.expectRollback(rev("shop:1")) // shop:2 was aborted
	w.annotate(v1.AnnotationAbort, rev("shop:3"))
	w.reconcile()
	w.available(v1.Blue)
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
}

func TestPromoteOfAnotherRevisionIsRefusedOnce(t *testing.T) {
	w := newWorld(t, manualSite)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.annotate(v1.AnnotationPromote, "nosuchrev")
	w.reconcile()
	a := w.action(v1.AnnotationPromote)
	if a.Result != v1.ActionRefused || !strings.Contains(a.Message, "neither the candidate ("+rev("shop:2")+") nor the live revision ("+rev("shop:1")+")") {
		t.Fatalf("answer: %+v", a)
	}
	if len(w.events(v1.EventActionRefused)) != 1 {
		t.Fatalf("events: %+v", w.last.Events)
	}
	w.reconcile()
	if len(w.events(v1.EventActionRefused)) != 0 {
		t.Fatal("refusal repeated")
	}
	// Removing the annotation forgets the answer; the right value is accepted.
	delete(w.site.Annotations, v1.AnnotationPromote)
	w.reconcile()
	if len(w.site.Status.Actions) != 0 {
		t.Fatalf("answers of removed annotations stay: %+v", w.site.Status.Actions)
	}
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	if a := w.action(v1.AnnotationPromote); a.Result != v1.ActionAccepted {
		t.Fatalf("answer: %+v", a)
	}
}

// An approval withdrawn by an abort is a refusal like any other: it is
// answered in status.actions and raises an ActionRefused event.
func TestAWithdrawnApprovalRaisesActionRefused(t *testing.T) {
	w := newWorld(t, manualSite)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	if a := w.action(v1.AnnotationPromote); a.Result != v1.ActionAccepted {
		t.Fatalf("answer %+v", a)
	}
	w.annotate(v1.AnnotationAbort, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, rev("shop:1"))
	if a := w.action(v1.AnnotationPromote); a.Result != v1.ActionRefused || !strings.HasPrefix(a.Message, "approval withdrawn") {
		t.Fatalf("answer %+v", a)
	}
	e := w.events(v1.EventActionRefused)
	if len(e) != 1 || !e[0].Warning || !strings.Contains(e[0].Note, v1.AnnotationPromote+"="+rev("shop:2")+" refused: approval withdrawn") {
		t.Fatalf("events %+v, want one ActionRefused for the withdrawn approval", w.last.Events)
	}
	w.reconcile()
	if e := w.events(v1.EventActionRefused); len(e) != 0 {
		t.Fatalf("the refusal was raised again: %+v", e)
	}
}
