package bluegreen

// Schema-changing releases with a rehearsal (spec.database.rehearse, the
// default): checked and awaiting approval on a snapshot copy while the
// live database takes writes; frozen only for the cutover.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbrelease"
)

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
	if got := w.db.get("shop_green"); got.Marker.Role != dbrelease.RoleRehearsal || got.Marker.Source != "shop_blue" {
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
	if frozenAt.IsZero() || w.db.get("shop_green").Exists {
		w.t.Fatalf("cutover: want shop_blue frozen and the rehearsal copy dropped: %+v %+v", w.db.get("shop_blue"), w.db.get("shop_green"))
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

func TestRehearsedReleaseRefusesWritesOnlyForTheCutover(t *testing.T) {
	w, r1 := rehearsalWorld(t, true, manual)
	rehearsalJob := w.rehearseToApproval(false)
	if st := w.site.Status; !strings.Contains(st.Message, "shop_blue keeps taking writes until the cutover") || st.Database.FrozenSince != nil {
		t.Fatalf("awaiting promotion: %s (frozenSince %v)", st.Message, st.Database.FrozenSince)
	}
	rehearsal := w.db.get("shop_green")
	w.advance(8 * time.Hour) // a person approves the next morning
	w.reconcile()
	w.expectWritable("shop_blue")
	w.expectStage(v1.StageAwaitingPromotion, v1.StepReady)
	ops := w.db.ops()

	frozenAt := w.cutOver(false, 2*time.Second)
	all := append(ops, w.db.ops()...)
	if i := slices.Index(all, "Freeze shop_blue"); i < 0 || !slices.Equal(all[i-1:i+1], []string{"DropCopy shop_green", "Freeze shop_blue"}) {
		t.Fatalf("the rehearsal copy is dropped right before the freeze: %q", all)
	}
	d := w.site.Status.Database
	if d.ActiveName != "shop_green" || d.PreviousName != "shop_blue" || d.Candidate != nil || d.SchemaRevision != "2" ||
		d.LastFreezeDuration == nil || d.LastFreezeDuration.Duration != 8*time.Second || !d.FrozenSince.Time.Equal(frozenAt) {
		t.Fatalf("status.database after the switch: %+v (freeze %v)", d, d.LastFreezeDuration)
	}
	final := w.db.get("shop_green")
	if final.OID == rehearsal.OID || final.Marker.Role != dbrelease.RoleCopy || final.Marker.CreatedAt.Before(frozenAt) {
		t.Fatalf("shop_green is not the final copy made under the freeze: %+v", final)
	}
	// The same migration ran on both copies, each with a Job of its own.
	finalJob := MigrationJobName("shop", final.OID, "2")
	if w.jobs[rehearsalJob] == nil || w.jobs[finalJob] == nil || finalJob == rehearsalJob ||
		w.jobs[finalJob].Spec.Template.Spec.Containers[0].Image != w.jobs[rehearsalJob].Spec.Template.Spec.Containers[0].Image {
		t.Fatalf("migration Jobs: rehearsal %s, final %s of %v", rehearsalJob, finalJob, keys(w.jobs))
	}
	if h := w.site.Status.History; h[0].Database != "shop_green" || h[1].Revision != r1 {
		t.Fatalf("history %+v", h)
	}
	w.reconcile()
	w.expectOps()
}

// A restart at any step of a rehearsed release (each reconcile is first
// run once with its status write lost: the manager stopped after its
// database steps and object writes) changes nothing users see: the live
// database takes writes until the promotion, is frozen once, and the
// release ends on the final copy.
func TestRehearsedReleaseResumesAfterALostStatusWriteAtEveryStep(t *testing.T) {
	w, _ := rehearsalWorld(t, true, manual)
	r2 := w.siteRev()
	var ops []string
	for i := 0; i < 40 && w.site.Status.ActiveRevision != r2; i++ {
		w.step(true)
		ops = append(ops, w.db.ops()...)
		if w.site.Annotations[v1.AnnotationPromote] == "" {
			w.expectWritable("shop_blue")
		}
		w.playCluster()
		if w.site.Status.Phase == v1.PhaseAwaitingPromotion {
			w.annotate(v1.AnnotationPromote, r2)
		}
	}
	w.expect(v1.PhaseHealthy, v1.Green, r2)
	freezes := 0
	for _, op := range ops {
		if op == "Freeze shop_blue" {
			freezes++
		}
	}
	d := w.site.Status.Database
	if freezes == 0 || d.ActiveName != "shop_green" || d.PreviousName != "shop_blue" || d.Candidate != nil || d.LastFreezeDuration == nil ||
		!w.db.get("shop_blue").Frozen || w.db.get("shop_green").Frozen || w.db.get("shop_green").Marker.Role != dbrelease.RoleCopy {
		t.Fatalf("after the switch (%d freezes): %+v", freezes, d)
	}
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

func TestFailedRehearsalNeverFroze(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason string
		fail   func(w *world)
	}{
		{"copy fails", v1.ReasonCopyFailed, func(w *world) { w.db.copyErr = "pg_dump: out of disk space"; w.reconcile() }},
		{"copy times out", v1.ReasonCopyFailed, func(w *world) { w.db.stuck = true; w.reconcile(); w.advance(30 * time.Minute) }},
		{"migration fails", v1.ReasonMigrationFailed, func(w *world) { w.finishJob(w.rehearsalMigrating(), false) }},
		{"migration times out", v1.ReasonMigrationTimedOut, func(w *world) { w.rehearsalMigrating(); w.advance(16 * time.Minute) }},
		{"pre-promotion check fails", v1.ReasonPrePromotionFailed, func(w *world) {
			w.rehearsalStarted()
			w.available(v1.Green)
			w.reconcile()
			w.finishJob(CheckJobName("shop", w.siteRev(), PrePromotion), false)
		}},
		{"progress deadline", v1.ReasonProgressDeadlineExceeded, func(w *world) { w.rehearsalStarted(); w.advance(11 * time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r1 := rehearsalWorld(t, true, manual)
			tc.fail(w)
			w.reconcile()
			w.expect(v1.PhaseDegraded, v1.Blue, r1)
			if w.deps[v1.Green] != nil {
				w.available(v1.Green) // the candidate's pods stop
				w.reconcile()
			}
			st := w.site.Status
			dbFailure := tc.reason == v1.ReasonCopyFailed || strings.HasPrefix(tc.reason, "Migration")
			if st.AbortReason != tc.reason || dbFailure && !strings.Contains(st.Message, "nothing was frozen") {
				t.Fatalf("abort %q: %s", st.AbortReason, st.Message)
			}
			for _, op := range w.db.ops() {
				if strings.HasPrefix(op, "Freeze") {
					t.Fatalf("a failed rehearsal froze: %s", op)
				}
			}
			if d := st.Database; d.Candidate != nil || d.Green != "shop_blue" || d.FrozenSince != nil || w.db.get("shop_green").Exists {
				t.Fatalf("after the failed rehearsal: %+v, rehearsal copy exists %v", d, w.db.get("shop_green").Exists)
			}
		})
	}
}

func TestCutoverMigrationFailureUnfreezesAtOnceAndDropsTheFinalCopy(t *testing.T) {
	w, r1 := rehearsalWorld(t, true, manual)
	w.rehearseToApproval(false)
	w.promoteToFreeze()
	w.reconcile() // final copy
	w.reconcile() // its migration
	w.expectStage(v1.StageCuttingOver, v1.StepMigrating)
	w.db.ops()
	w.finishJob(w.site.Status.Database.Candidate.MigrationJob, false)
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, r1)
	w.expectOps("StopCopy shop_green", "DropCopy shop_green", "Unfreeze shop_blue")
	st := w.site.Status
	if c := st.Conditions; st.AbortReason != v1.ReasonMigrationFailed || !strings.HasPrefix(st.Message, "cutover: migration Job") ||
		!strings.Contains(st.Message, "final copy shop_green (it passed on the rehearsal)") || !strings.Contains(st.Message, "writable again") || len(c) == 0 {
		t.Fatalf("%s %q: %s", st.Phase, st.AbortReason, st.Message)
	}
	if d := st.Database; d.Candidate != nil || d.FrozenSince != nil {
		t.Fatalf("status.database: %+v", d)
	}
}

// autoPromoteAfter soaks the candidate on the rehearsal: the freeze never
// waits for it.
func TestAutoPromotedRehearsalSoaksBeforeTheFreeze(t *testing.T) {
	w, _ := rehearsalWorld(t, false, func(s *v1.SiteDeployment) {
		s.Spec.Strategy.AutoPromoteAfter.Duration = time.Hour
	})
	w.reconcile() // rehearsal copy
	w.reconcile() // no migration: the candidate starts
	w.available(v1.Green)
	w.reconcile()
	w.finishJob(CheckJobName("shop", w.siteRev(), PrePromotion), true)
	w.reconcile()
	w.expectStage(v1.StageAwaitingPromotion, v1.StepReady)
	if w.site.Status.Phase != v1.PhasePromoting || w.last.RequeueAfter != time.Hour {
		t.Fatalf("soak: %s (%s), requeue %s", w.site.Status.Phase, w.site.Status.Message, w.last.RequeueAfter)
	}
	w.advance(time.Hour)
	w.reconcile()
	w.expectStage(v1.StageCuttingOver, v1.StepFreezing)
	w.expectWritable("shop_blue")
	w.available(v1.Green)
	w.reconcile()
	w.reconcile()
	w.reconcile() // frozen, copied: the candidate scales up on the final copy
	w.available(v1.Green)
	w.advance(3 * time.Second)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, w.siteRev())
	if d := w.site.Status.Database; d.LastFreezeDuration.Duration != 3*time.Second {
		t.Fatalf("the soak was inside the freeze: %s", d.LastFreezeDuration)
	}
}

func TestCutoverKeepsGoingWhenThePromoteAnnotationGoesAndStopsOnAbort(t *testing.T) {
	w, r1 := rehearsalWorld(t, false, manual)
	w.rehearseToApprovalWithoutMigration()
	w.annotate(v1.AnnotationPromote, w.siteRev())
	w.reconcile()
	delete(w.site.Annotations, v1.AnnotationPromote)
	w.available(v1.Green)
	w.reconcile() // frozen
	w.reconcile() // copying
	w.reconcile() // copied: the candidate scales up
	w.expectStage(v1.StageCuttingOver, v1.StepReady)
	if w.replicas(v1.Green) != 3 || !w.db.get("shop_blue").Frozen {
		t.Fatalf("the cutover stopped without the annotation: green at %d", w.replicas(v1.Green))
	}
	w.db.ops()
	w.annotate(v1.AnnotationAbort, w.siteRev())
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, r1)
	w.expectOps("StopCopy shop_green", "DropCopy shop_green", "Unfreeze shop_blue")
}

// Another template of the same schema during the cutover was neither
// checked nor approved: the freeze ends and it is rehearsed anew. So is a
// changed migration, even before the cutover.
func TestAnotherRevisionOrMigrationDuringTheReleaseRehearsesAgain(t *testing.T) {
	w, _ := rehearsalWorld(t, true, manual)
	w.rehearseToApproval(false)
	w.promoteToFreeze()
	w.expectStage(v1.StageCuttingOver, v1.StepFreezing)
	w.db.ops()
	w.site.Spec.Template = image("shop:2b")
	w.site.Generation++
	w.reconcile()
	w.expectOps("StopCopy shop_green", "Unfreeze shop_blue") // the rehearsal copy went before the freeze
	w.expectWritable("shop_blue")
	w.reconcile()
	w.expectOps("Copy shop_green")
	w.expectStage(v1.StageRehearsing, v1.StepCopying)

	w.reconcile()
	w.expectStage(v1.StageRehearsing, v1.StepMigrating)
	w.site.Spec.Database.Migration.Template = image("shop-migrate:2-fixed")
	w.db.ops()
	w.reconcile()
	w.expectOps("StopCopy shop_green", "DropCopy shop_green")
	if w.site.Status.Database.Candidate != nil || len(w.last.Jobs) != 0 {
		t.Fatalf("a migration was asked for on the copy being dropped: %+v", w.site.Status.Database.Candidate)
	}
	w.reconcile()
	w.expectOps("Copy shop_green")
	w.expectStage(v1.StageRehearsing, v1.StepCopying)
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
