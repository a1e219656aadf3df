package bluegreen

import (
	"slices"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbstate"
)

// The world of rehearsed releases: a site with a rehearsal, and the steps
// of its release that the scenarios in database_rehearsal_test.go share.

// rehearsalWorld is schemaWorld with the API's default, a rehearsal, and
// a pre-promotion check.
func rehearsalWorld(t *testing.T, migration bool, mutate ...func(*v1.SiteDeployment)) (*world, string) {
	t.Helper()
	mutate = append([]func(*v1.SiteDeployment){func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = check() }}, mutate...)
	w, r1 := schemaWorld(t, migration, mutate...)
	w.site.Spec.Database.Rehearse = nil
	return w, r1
}

func manual(s *v1.SiteDeployment) { s.Spec.Strategy.AutoPromote = ptr.To(false) }

func (w *world) expectStage(stage v1.DatabaseStage, step v1.CandidateStep) {
	w.t.Helper()
	c := w.site.Status.Database.Candidate
	if c == nil || c.Stage != stage || c.Step != step {
		w.t.Fatalf("want candidate %s/%s, got %+v (%s: %s)", stage, step, c, w.site.Status.Phase, w.site.Status.Message)
	}
}

func (w *world) expectWritable(db string) {
	w.t.Helper()
	if w.db.get(db).Frozen {
		w.t.Fatalf("%s is frozen at %s/%s: %s", db, w.site.Status.Phase, w.stageOf(), w.site.Status.Message)
	}
}

func (w *world) stageOf() v1.DatabaseStage {
	if c := w.site.Status.Database.Candidate; c != nil {
		return c.Stage
	}
	return ""
}

func (w *world) hasEvent(reason string) bool {
	return slices.ContainsFunc(w.last.Events, func(e Event) bool { return e.Reason == reason })
}

// step reconciles; with crash, it first runs a reconcile whose status
// write is lost (the manager stopped after its database steps and object
// writes), as a restart at that point leaves things.
func (w *world) step(crash bool) {
	w.t.Helper()
	if crash {
		before := *w.site.Status.DeepCopy()
		w.reconcile()
		w.site.Status = before
	}
	w.reconcile()
}

// rehearseToApproval runs a rehearsed release with migration and manual
// promotion up to its wait for approval, and returns the rehearsal's
// migration Job.
func (w *world) rehearseToApproval(crash bool) string {
	w.t.Helper()
	w.step(crash)
	w.expectStage(v1.StageRehearsing, v1.StepCopying)
	if got := w.db.get("shop_green"); got.Marker.Role != dbstate.RoleRehearsal || got.Marker.Source != "shop_blue" {
		w.t.Fatalf("shop_green is not a rehearsal copy of shop_blue: %+v", got.Marker)
	}
	w.step(crash)
	w.expectStage(v1.StageRehearsing, v1.StepMigrating)
	job := w.site.Status.Database.Candidate.MigrationJob
	w.finishJob(job, true)
	w.step(crash)
	if revisionOf(w.deps[v1.Green]) != w.siteRev() || w.site.Status.Database.Green != "shop_green" {
		w.t.Fatalf("the candidate did not start on the rehearsal copy: %+v", w.site.Status.Database)
	}
	w.available(v1.Green)
	w.step(crash)
	w.finishJob(CheckJobName("shop", w.siteRev(), PrePromotion), true)
	w.step(crash)
	w.expect(v1.PhaseAwaitingPromotion, v1.Blue, w.site.Status.ActiveRevision)
	w.expectStage(v1.StageAwaitingPromotion, v1.StepReady)
	w.expectWritable("shop_blue")
	return job
}

// cutOver approves the candidate and runs the cutover to the switch,
// advancing the clock by tick at each step; it returns when the freeze
// began.
func (w *world) cutOver(crash bool, tick time.Duration) time.Time {
	w.t.Helper()
	r2 := w.siteRev()
	w.annotate(v1.AnnotationPromote, r2)
	w.step(crash)
	w.expectStage(v1.StageCuttingOver, v1.StepFreezing)
	if w.replicas(v1.Green) != 0 || w.site.Status.Phase != v1.PhasePromoting {
		w.t.Fatalf("the cutover must stop the preview pods first: green at %d, %s", w.replicas(v1.Green), w.site.Status.Phase)
	}
	w.expectWritable("shop_blue")
	w.step(crash)
	w.expectWritable("shop_blue") // the preview pods are still stopping
	w.available(v1.Green)
	w.step(crash)
	frozenAt := w.db.get("shop_blue").FrozenSince
	if green := w.db.get("shop_green"); frozenAt.IsZero() || green.Marker.Role != dbstate.RolePrepared || green.Marker.Source != "shop_blue" {
		w.t.Fatalf("cutover: want shop_blue frozen, and the rehearsal copy dropped for an empty database prepared for the final copy: %+v %+v", w.db.get("shop_blue"), green)
	}
	for range 2 {
		w.advance(tick)
		w.step(crash)
	}
	w.expectStage(v1.StageCuttingOver, v1.StepMigrating)
	w.finishJob(w.site.Status.Database.Candidate.MigrationJob, true)
	w.advance(tick)
	w.step(crash)
	if w.replicas(v1.Green) != 3 || revisionOf(w.deps[v1.Green]) != r2 {
		w.t.Fatalf("the candidate must start on the final copy at full size: green at %d", w.replicas(v1.Green))
	}
	w.advance(tick)
	w.available(v1.Green)
	w.step(crash)
	w.expect(v1.PhaseHealthy, v1.Green, r2)
	return frozenAt
}

// playCluster plays kube-controller-manager once: the Jobs the site made
// succeed and its Deployments reach what they ask for.
func (w *world) playCluster() {
	for name, j := range w.jobs {
		if state, _ := checkState(j); state == jobRunning {
			w.finishJob(name, true)
		}
	}
	for c, d := range w.deps {
		if !readyAt(d, revisionOf(d), *d.Spec.Replicas) {
			w.available(c)
		}
	}
}

// promoteToFreeze approves the rehearsed candidate and runs the cutover
// until the live database is frozen.
func (w *world) promoteToFreeze() {
	w.t.Helper()
	w.annotate(v1.AnnotationPromote, w.siteRev())
	w.reconcile()
	w.available(v1.Green) // the preview pods stopped
	w.reconcile()
	if !w.db.get("shop_blue").Frozen {
		w.t.Fatalf("shop_blue not frozen: %s", w.site.Status.Message)
	}
}

// rehearsalMigrating runs a rehearsal up to its migration Job.
func (w *world) rehearsalMigrating() string {
	w.t.Helper()
	w.reconcile()
	w.reconcile()
	w.expectStage(v1.StageRehearsing, v1.StepMigrating)
	return w.site.Status.Database.Candidate.MigrationJob
}

// rehearsalStarted runs a rehearsal until its candidate starts.
func (w *world) rehearsalStarted() {
	w.t.Helper()
	w.finishJob(w.rehearsalMigrating(), true)
	w.reconcile()
}

func (w *world) rehearseToApprovalWithoutMigration() {
	w.t.Helper()
	w.reconcile()
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.finishJob(CheckJobName("shop", w.siteRev(), PrePromotion), true)
	w.reconcile()
	w.expectStage(v1.StageAwaitingPromotion, v1.StepReady)
	if !w.hasEvent(v1.EventDatabaseRehearsalPassed) {
		w.t.Fatalf("no %s event: %+v", v1.EventDatabaseRehearsalPassed, w.last.Events)
	}
}
