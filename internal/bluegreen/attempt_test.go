package bluegreen

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A failed migration is fixed by fixing the migration: applying the same
// spec again changes nothing, a changed migration is a new attempt of the
// same revision, said so in an event and in the status message.
func TestFixedMigrationStartsANewAttempt(t *testing.T) {
	w, r1 := schemaWorld(t, true)
	job := w.toMigration()
	w.finishJob(job, false)
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, r1)
	r2 := w.siteRev()
	for range 3 { // the same spec again: still Degraded, nothing restarts
		w.site.Generation++
		w.reconcile()
	}
	w.expect(v1.PhaseDegraded, v1.Blue, r1)
	st := w.site.Status
	if st.AbortedRevision != r2 || !strings.Contains(st.Message, job) ||
		!strings.Contains(st.Message, "to release it again, revert spec.template to "+r1+", or fix what failed (the image, the migration or a check) and apply it again") {
		t.Fatalf("after the failure: aborted %q: %s", st.AbortedRevision, st.Message)
	}

	w.site.Spec.Database.Migration.Template = image("shop-migrate:1-fixed")
	w.site.Generation++
	w.reconcile()
	if ev := w.events(v1.EventNewAttempt); len(ev) != 1 || ev[0].Warning ||
		ev[0].Note != "revision "+r2+" is released again: spec.database.migration changed since it was aborted (MigrationFailed)" {
		t.Fatalf("events %+v", w.last.Events)
	}
	st = w.site.Status
	if st.AbortedRevision != "" || st.Phase != v1.PhaseProgressing || st.Database.Candidate == nil ||
		!strings.HasPrefix(st.Message, "new attempt of revision "+r2+" (failed before): schema revision 2: ") {
		t.Fatalf("after the fix: %s aborted %q candidate %+v: %s", st.Phase, st.AbortedRevision, st.Database.Candidate, st.Message)
	}
	w.reconcile()
	w.reconcile()
	w.expectCandidate(v1.StepMigrating)
	again := w.site.Status.Database.Candidate.MigrationJob
	if again == job || w.jobs[again] == nil || w.jobs[again].Spec.Template.Spec.Containers[0].Image != "shop-migrate:1-fixed" {
		t.Fatalf("the new attempt runs migration Job %q (the failed one was %q)", again, job)
	}
	w.finishJob(again, true)
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, r2)
	if h := w.site.Status.History[0]; h.Revision != r2 || h.Outcome != v1.OutcomePromoted {
		t.Fatalf("history %+v", w.site.Status.History)
	}
}

// A failed check is fixed by fixing the check (or its timeout); a new
// spec.template is a new release as before.
func TestFixedCheckStartsANewAttempt(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = check() })
	w.healthyOn("shop:1")
	w.releaseReady("shop:2")
	name := CheckJobName("shop", rev("shop:2"), PrePromotion)
	w.finishJob(name, false)
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
	w.reconcile()

	w.advance(time.Minute)
	w.site.Spec.Strategy.PrePromotion.Template = image("curl:8-fixed")
	w.site.Generation++
	w.reconcile()
	if ev := w.events(v1.EventNewAttempt); len(ev) != 1 || !strings.Contains(ev[0].Note, "spec.strategy.prePromotion changed") {
		t.Fatalf("events %+v", w.last.Events)
	}
	w.available(v1.Green)
	w.reconcile()
	if w.jobs[name] != nil {
		t.Fatal("the failed check Job of the first attempt was not deleted")
	}
	w.reconcile()
	if j := w.jobs[name]; j == nil || len(j.Status.Conditions) != 0 || j.Spec.Template.Spec.Containers[0].Image != "curl:8-fixed" {
		t.Fatalf("the new attempt's check Job: %+v", j)
	}
	if st := w.site.Status; st.Phase != v1.PhaseProgressing || !strings.HasPrefix(st.Message, "new attempt of revision "+rev("shop:2")+" (failed before): pre-promotion check") {
		t.Fatalf("%s: %s", st.Phase, st.Message)
	}
	w.finishJob(name, true)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}

// After a rollback finished, the message says what happened and what to
// do, in the past tense; the site stays Aborted (Degraded for a failed
// check) until spec.template changes.
func TestFinishedRollbackSaysWhatHappenedAndWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		phase v1.SiteDeploymentPhase
		abort func(w *world)
		why   string
	}{
		{"abort annotation", v1.PhaseAborted, func(w *world) { w.annotate(v1.AnnotationAbort, rev("shop:2")) },
			"why: revision " + rev("shop:2") + " aborted by the deploy.understudy.dev/abort annotation"},
		{"post-promotion check", v1.PhaseDegraded, func(w *world) {
			w.finishJob(CheckJobName("shop", rev("shop:2"), PostPromotion), false)
		}, "why: post-promotion check shop-" + rev("shop:2") + "-post of revision " + rev("shop:2") + " failed (BackoffLimitExceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, func(s *v1.SiteDeployment) { s.Spec.Strategy.PostPromotion = check() })
			w.healthyOn("shop:1")
			w.releaseReady("shop:2")
			w.expect(v1.PhasePromoting, v1.Green, rev("shop:2"))
			if tc.name == "abort annotation" {
				w.finishJob(CheckJobName("shop", rev("shop:2"), PostPromotion), true)
				w.reconcile()
				w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
			}
			tc.abort(w)
			w.reconcile()
			w.reconcile()
			w.expect(tc.phase, v1.Blue, rev("shop:1"))
			msg := w.site.Status.Message
			want := "revision " + rev("shop:2") + " was aborted and rolled back: " + rev("shop:1") + " serves at full size; revert spec.template to " +
				rev("shop:1") + ", or fix what failed (the image, the migration or a check) and apply it again for a new attempt (" + tc.why
			if !strings.HasPrefix(msg, want) || strings.Contains(msg, "rolling back") || strings.Contains(msg, "switching back") {
				t.Fatalf("message after the rollback:\n%s\nwant prefix\n%s", msg, want)
			}
			for _, c := range w.site.Status.Conditions {
				if c.Type == v1.ConditionDegraded && (c.Status != "True" || c.Message != msg) {
					t.Fatalf("Degraded %+v", c)
				}
			}
		})
	}
}

// A post-promotion check that fails with no earlier revision to switch
// back to (the history keeps one) says so, once: the revision keeps
// serving, Degraded, and the check is neither run nor reported again.
func TestAFailedPostPromotionCheckWithNothingToSwitchBackToSaysSoOnce(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) {
		s.Spec.Strategy.PostPromotion = check()
		s.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	})
	w.healthyOn("shop:1")
	w.releaseReady("shop:2")
	w.expect(v1.PhasePromoting, v1.Green, rev("shop:2"))
	w.finishJob(CheckJobName("shop", rev("shop:2"), PostPromotion), false)
	w.reconcile()
	failures := func() int {
		n := 0
		for _, e := range w.last.Events {
			if e.Reason == v1.ReasonPostPromotionFailed {
				n++
			}
		}
		return n
	}
	if n := failures(); n != 1 {
		t.Fatalf("%d PostPromotionFailed events in one decision, want 1: %+v", n, w.last.Events)
	}
	w.expect(v1.PhaseDegraded, v1.Green, rev("shop:2"))
	if msg := w.site.Status.Message; !strings.Contains(msg, "no earlier revision to switch back to, so it keeps serving") || strings.Contains(msg, "switching back;") {
		t.Fatalf("message %q", msg)
	}
	w.reconcile()
	if n := failures(); n != 0 {
		t.Fatalf("the failure is reported again on the next decision: %+v", w.last.Events)
	}
	w.expect(v1.PhaseDegraded, v1.Green, rev("shop:2"))
}
