package bluegreen

// Schema-changing releases with a rehearsal (spec.database.rehearse, the
// default): checked and awaiting approval on a snapshot copy while the
// live database takes writes; frozen only for the cutover.

import (
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbstate"
)

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
	// The final copy's statistics are gathered once it is live, not
	// inside the freeze; the rehearsal's before its migration.
	if i := slices.Index(all, "Analyze shop_green"); i < slices.Index(all, "Freeze shop_blue") ||
		!slices.Equal(w.db.analyzedLater, []bool{false, true}) {
		t.Fatalf("want the final copy analyzed after the switch: copies analyzed later %v, steps %q", w.db.analyzedLater, all)
	}
	if !slices.Equal(w.db.settled, []string{"shop_blue"}) {
		t.Fatalf("want the live database vacuumed once, right before its freeze; vacuumed %q", w.db.settled)
	}
	if w.db.prepared != "shop_green" {
		t.Fatalf("want the final copy's database created before the freeze; prepared %q", w.db.prepared)
	}
	d := w.site.Status.Database
	if d.ActiveName != "shop_green" || d.PreviousName != "shop_blue" || d.Candidate != nil || d.SchemaRevision != "2" ||
		d.LastFreezeDuration == nil || d.LastFreezeDuration.Duration != 8*time.Second || !d.FrozenSince.Time.Equal(frozenAt) {
		t.Fatalf("status.database after the switch: %+v (freeze %v)", d, d.LastFreezeDuration)
	}
	final := w.db.get("shop_green")
	if final.OID == rehearsal.OID || final.Marker.Role != dbstate.RoleCopy || final.Marker.CreatedAt.Before(frozenAt) {
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
		!w.db.get("shop_blue").Frozen || w.db.get("shop_green").Frozen || w.db.get("shop_green").Marker.Role != dbstate.RoleCopy {
		t.Fatalf("after the switch (%d freezes): %+v", freezes, d)
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
	// The rehearsal copy went before the freeze; the database prepared
	// for the final copy goes now.
	w.expectOps("StopCopy shop_green", "DropCopy shop_green", "Unfreeze shop_blue")
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

func TestAbortAfterARehearsedSwitchReturnsToTheOldDatabaseAndReportsWrites(t *testing.T) {
	w, r1 := rehearsalWorld(t, true, manual)
	w.rehearseToApproval(false)
	w.cutOver(false, time.Second)
	r2 := w.siteRev()
	w.db.write("shop_green", 5)
	w.db.ops()
	w.annotate(v1.AnnotationAbort, r2)
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, r1)
	w.expectOps("Freeze shop_green", "ReportWrites shop_green", "Unfreeze shop_blue")
	d := w.site.Status.Database
	if d.ActiveName != "shop_blue" || d.PreviousName != "shop_green" || d.WritesSinceSwitch != 5 || d.LastFreezeDuration == nil {
		t.Fatalf("status.database after the abort: %+v", d)
	}
}
