package bluegreen

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// schemaWorld is a site healthy on blue with shop_blue at schema "1", and
// a release of shop:2 at schema "2" decided up to its migration Job.
func schemaWorld(t *testing.T, migration bool, mutate ...func(*v1.SiteDeployment)) (*world, string) {
	t.Helper()
	w := newWorld(t, mutate...)
	w.withDatabase(migration)
	w.healthyOn("shop:1")
	r1 := w.site.Status.ActiveRevision
	w.db.ops()
	w.releaseSchema("shop:2", "2")
	return w, r1
}

func (w *world) expectOps(want ...string) {
	w.t.Helper()
	if got := w.db.ops(); !slices.Equal(got, want) {
		w.t.Fatalf("database steps: want %q, got %q", want, got)
	}
}

func (w *world) expectCandidate(step v1.DatabaseStep) {
	w.t.Helper()
	d := w.site.Status.Database
	if d.Candidate == nil || d.Candidate.Step != step {
		w.t.Fatalf("want candidate at %s, got %+v (%s)", step, d.Candidate, w.site.Status.Message)
	}
	if dep := w.deps[v1.Green]; dep != nil && revisionOf(dep) == w.siteRev() {
		w.t.Fatalf("the candidate started at step %s, before its database was ready", step)
	}
}

// toMigration runs a schema release up to its migration Job.
func (w *world) toMigration() string {
	w.t.Helper()
	w.reconcile()
	w.expectOps("Freeze shop_blue")
	w.expectCandidate(v1.StepFreezing)
	w.reconcile()
	w.expectOps("Copy shop_green")
	w.expectCandidate(v1.StepCopying)
	w.reconcile()
	w.expectCandidate(v1.StepMigrating)
	job := w.site.Status.Database.Candidate.MigrationJob
	if w.jobs[job] == nil || w.site.Status.Database.Green != "shop_green" {
		w.t.Fatalf("migration Job %q not created, or green not given the copy: %+v", job, w.site.Status.Database)
	}
	return job
}

func TestSchemaReleaseFreezesCopiesMigratesStartsAndSwitches(t *testing.T) {
	w, r1 := schemaWorld(t, true)
	job := w.toMigration()
	// Its own Secret, naming the copy: never repointed at another database.
	if env := w.jobs[job].Spec.Template.Spec.Containers[0].EnvFrom; len(env) != 1 || env[0].SecretRef.Name != job ||
		w.jobs[job].Annotations[AnnotationDatabase] != "shop_green" {
		t.Fatalf("migration Job envFrom %+v, annotations %v", env, w.jobs[job].Annotations)
	}
	w.reconcile()
	w.expectCandidate(v1.StepMigrating) // waits for the Job
	w.finishJob(job, true)
	w.reconcile()
	if revisionOf(w.deps[v1.Green]) != w.siteRev() || w.site.Status.Database.Candidate.Step != v1.StepReady {
		t.Fatalf("the candidate did not start once migrated: %+v", w.site.Status.Database)
	}
	w.available(v1.Green)
	w.db.write("shop_green", 2) // the candidate's own start-up
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, w.siteRev())
	w.expectOps("Retain ")
	d := w.site.Status.Database
	if d.ActiveName != "shop_green" || d.SchemaRevision != "2" || d.PreviousName != "shop_blue" || d.PreviousSchemaRevision != "1" ||
		d.Blue != "shop_blue" || d.Green != "shop_green" || d.Candidate != nil || d.FrozenSince == nil || d.SwitchBaseline.XactCommit != 2 {
		t.Fatalf("status.database after the switch: %+v", d)
	}
	if !w.db.get("shop_blue").Frozen || w.db.get("shop_green").Frozen {
		t.Fatal("after the switch the old side must stay read-only and the new one take writes")
	}
	w.reconcile()
	w.expectOps() // steady: nothing to do
	_ = r1
}

func TestSchemaReleaseFailureBeforeTheSwitchDropsTheCopyAndUnfreezes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason string
		fail   func(w *world, job string)
	}{
		{"copy fails", v1.ReasonCopyFailed, nil},
		{"migration fails", v1.ReasonMigrationFailed, func(w *world, job string) { w.finishJob(job, false) }},
		{"migration times out", v1.ReasonMigrationTimedOut, func(w *world, job string) { w.advance(16 * time.Minute) }},
		{"pre-promotion check fails", v1.ReasonPrePromotionFailed, func(w *world, job string) {
			w.finishJob(job, true)
			w.reconcile()
			w.available(v1.Green)
			w.reconcile()
			w.finishJob(CheckJobName("shop", w.siteRev(), PrePromotion), false)
		}},
		{"progress deadline", v1.ReasonProgressDeadlineExceeded, func(w *world, job string) {
			w.finishJob(job, true)
			w.reconcile()
			w.advance(11 * time.Minute)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r1 := schemaWorld(t, true, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = check() })
			if tc.fail == nil {
				w.db.copyErr = "pg_restore: out of disk space"
				w.reconcile()
				w.reconcile()
				w.reconcile()
			} else {
				tc.fail(w, w.toMigration())
				w.reconcile()
			}
			w.expect(v1.PhaseDegraded, v1.Blue, r1)
			if w.deps[v1.Green] != nil {
				// Green gets its old database back only once the
				// candidate's pods are gone.
				if w.replicas(v1.Green) != 0 || w.site.Status.Database.Green != "shop_green" {
					t.Fatalf("green at %d replicas, given %s", w.replicas(v1.Green), w.site.Status.Database.Green)
				}
				w.available(v1.Green)
				w.reconcile()
			}
			if w.site.Status.AbortReason != tc.reason {
				t.Fatalf("abort reason %q, want %q: %s", w.site.Status.AbortReason, tc.reason, w.site.Status.Message)
			}
			d := w.site.Status.Database
			if d.Candidate != nil || d.Green != "shop_blue" || d.ActiveName != "shop_blue" || d.FrozenSince != nil {
				t.Fatalf("status.database after %s: %+v", tc.name, d)
			}
			if w.db.get("shop_green").Exists || w.db.get("shop_blue").Frozen {
				t.Fatalf("after %s: copy exists %v, old side frozen %v", tc.name, w.db.get("shop_green").Exists, w.db.get("shop_blue").Frozen)
			}
			if w.switches != 1 { // the first release's only
				t.Fatal("traffic switched to the candidate")
			}
		})
	}
}

func TestCopyPastCopyTimeoutFailsAndUnfreezes(t *testing.T) {
	w, r1 := schemaWorld(t, true)
	w.db.stuck = true
	w.reconcile()
	w.reconcile()
	w.expectCandidate(v1.StepCopying)
	w.advance(29 * time.Minute)
	w.reconcile()
	w.expectCandidate(v1.StepCopying)
	if w.last.RequeueAfter != time.Minute {
		t.Fatalf("no wake-up at copyTimeout: requeue after %s", w.last.RequeueAfter)
	}
	w.advance(time.Minute)
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, r1)
	if w.site.Status.AbortReason != v1.ReasonCopyFailed {
		t.Fatalf("abort reason %q: %s", w.site.Status.AbortReason, w.site.Status.Message)
	}
	w.expectOps("Freeze shop_blue", "Copy shop_green", "Copy shop_green", "StopCopy shop_green", "Unfreeze shop_blue")
}

func TestAbortAfterSchemaSwitchReturnsToTheOldDatabaseAndReportsWrites(t *testing.T) {
	w, r1 := schemaWorld(t, false)
	w.reconcile()
	w.reconcile()
	w.reconcile() // copied; no migration: the candidate starts
	w.available(v1.Green)
	w.reconcile()
	r2 := w.siteRev()
	w.expect(v1.PhaseHealthy, v1.Green, r2)
	w.db.ops()
	w.db.write("shop_green", 7)

	w.annotate(v1.AnnotationAbort, r2)
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, r1)
	w.expectOps("Freeze shop_green", "ReportWrites shop_green", "Unfreeze shop_blue")
	d := w.site.Status.Database
	if d.ActiveName != "shop_blue" || d.SchemaRevision != "1" || d.PreviousName != "shop_green" || d.WritesSinceSwitch != 7 || d.FrozenSince != nil {
		t.Fatalf("status.database after the abort: %+v", d)
	}
	if w.db.get("shop_blue").Frozen || !w.db.get("shop_green").Frozen {
		t.Fatal("the old side must take writes again and the abandoned one be read-only")
	}
	w.reconcile()
	w.expectOps()
	if d := w.site.Status.Database; d.FrozenSince != nil {
		t.Fatalf("after a rollback no write freeze is under way; frozenSince %v names the abandoned %s", d.FrozenSince, d.PreviousName)
	}
}

func TestLostStatusWriteAfterTheSwitchIsCaughtUp(t *testing.T) {
	w, _ := schemaWorld(t, false)
	w.reconcile()
	w.reconcile()
	w.reconcile()
	w.available(v1.Green)
	before := *w.site.Status.DeepCopy()
	w.reconcile()          // switches the Service ...
	w.site.Status = before // ... but the manager stopped before writing status
	w.db.ops()
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, w.siteRev())
	if d := w.site.Status.Database; d.ActiveName != "shop_green" || d.PreviousName != "shop_blue" || d.Candidate != nil {
		t.Fatalf("status.database: %+v", d)
	}
	w.expectOps("Retain ")
}

func TestSchemaRevertedDuringTheCopyDropsItAndSharesTheActiveDatabase(t *testing.T) {
	w, _ := schemaWorld(t, true)
	job := w.toMigration()
	w.releaseSchema("shop:3", "1")
	w.reconcile()
	w.expectOps("StopCopy shop_green", "DropCopy shop_green", "Unfreeze shop_blue")
	if w.jobs[job] != nil {
		t.Fatal("a migration Job that had not finished must be deleted with its release")
	}
	d := w.site.Status.Database
	if d.Candidate != nil || d.Green != "shop_blue" || revisionOf(w.deps[v1.Green]) != w.siteRev() {
		t.Fatalf("a release back to the active schema must share shop_blue: %+v", d)
	}
}

func TestNextReleasesMoveTheOldCopyAsideOrShareTheDatabase(t *testing.T) {
	w, _ := schemaWorld(t, false, func(s *v1.SiteDeployment) { s.Spec.Strategy.ScaleDownDelay.Duration = 0 })
	for range 3 {
		w.reconcile()
	}
	w.available(v1.Green)
	w.reconcile() // switches
	w.reconcile() // scales blue down at once (no delay)
	w.available(v1.Blue)
	w.db.ops()

	// Same schema: blue's candidate shares shop_green; the switch ends the
	// rollback path to shop_blue.
	w.release("shop:3")
	w.reconcile()
	if d := w.site.Status.Database; d.Blue != "shop_green" {
		t.Fatalf("a release keeping the schema must share the active database: %+v", d)
	}
	w.available(v1.Blue)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Blue, w.siteRev())
	if d := w.site.Status.Database; d.PreviousName != "" || d.ActiveName != "shop_green" {
		t.Fatalf("status.database after a shared switch: %+v", d)
	}

	// A new schema: the active database is shop_green although blue is
	// active, so the copy goes to shop_blue, whose old copy (made for
	// schema 2's rollback, unused since) is moved aside first.
	w.db.ops()
	w.releaseSchema("shop:4", "3")
	w.reconcile()
	w.expectOps() // green's warm pods stop before anything else
	if w.replicas(v1.Green) != 0 {
		t.Fatalf("green at %d replicas while its database is to be replaced", w.replicas(v1.Green))
	}
	w.available(v1.Green)
	w.reconcile()
	w.expectOps("MoveAside shop_blue", "Freeze shop_green")
	if c := w.site.Status.Database.Candidate; c == nil || c.Name != "shop_blue" || c.Color != v1.Green {
		t.Fatalf("candidate %+v", c)
	}
	w.reconcile()
	w.expectOps("Copy shop_blue")
	if !w.db.get("shop_green").Exists || w.db.get("shop_green").Marker.Role == "copy" && w.db.get("shop_green").Marker.Revision == "3" {
		t.Fatal("the active database was replaced")
	}
}

func TestAwaitingPromotionSaysTheLiveDatabaseRefusesWrites(t *testing.T) {
	w, _ := schemaWorld(t, false, func(s *v1.SiteDeployment) { s.Spec.Strategy.AutoPromote = ptr.To(false) })
	for range 3 {
		w.reconcile()
	}
	w.available(v1.Green)
	w.reconcile()
	st := w.site.Status
	if st.Phase != v1.PhaseAwaitingPromotion || !strings.Contains(st.Message, "shop_blue has refused writes since") {
		t.Fatalf("%s: %s", st.Phase, st.Message)
	}
}

// switchedToSchema2 runs a schema release without migration to its switch.
func switchedToSchema2(t *testing.T) (*world, string) {
	t.Helper()
	w, r1 := schemaWorld(t, false)
	for range 3 {
		w.reconcile()
	}
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, w.siteRev())
	w.db.ops()
	return w, r1
}

func TestRetryAfterAnAbortKeepsTheAbandonedDatabase(t *testing.T) {
	w, r1 := switchedToSchema2(t)
	r2 := w.siteRev()
	w.db.write("shop_green", 4)
	w.annotate(v1.AnnotationAbort, r2)
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Blue, r1)
	w.reconcile() // the aborted revision is scaled down
	w.available(v1.Green)
	w.db.ops()

	// A fixed template for the same schema: shop_green, kept for
	// inspection with the writes since the switch, is moved aside, not
	// reused and never dropped.
	w.releaseSchema("shop:5", "2")
	w.reconcile()
	w.expectOps("MoveAside shop_green", "Freeze shop_blue")
	d := w.site.Status.Database
	if !strings.HasPrefix(d.PreviousName, "shop_green_prev_") || !w.db.get(d.PreviousName).Exists || w.db.get(d.PreviousName).XactCommit != 4 {
		t.Fatalf("the abandoned database was not kept: %+v", d)
	}
	w.reconcile()
	w.expectOps("Copy shop_green")
	w.reconcile()
	if revisionOf(w.deps[v1.Green]) != w.siteRev() {
		t.Fatal("the retried release did not start its candidate")
	}
}

func TestRevertAfterASchemaSwitchGoesBackToTheOldDatabase(t *testing.T) {
	w, r1 := switchedToSchema2(t)
	w.db.write("shop_green", 3)
	w.releaseSchema("shop:1", "1") // git revert
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Blue, r1)
	w.expectOps("Freeze shop_green", "ReportWrites shop_green", "Unfreeze shop_blue")
	d := w.site.Status.Database
	if d.ActiveName != "shop_blue" || d.SchemaRevision != "1" || d.PreviousName != "shop_green" || d.WritesSinceSwitch != 3 || d.Candidate != nil {
		t.Fatalf("status.database after the revert: %+v", d)
	}
}

func TestNewSchemaWhileTheCandidateRunsStopsItBeforeCopyingAgain(t *testing.T) {
	w, _ := schemaWorld(t, true, func(s *v1.SiteDeployment) { s.Spec.Strategy.PrePromotion = check() })
	job := w.toMigration()
	w.finishJob(job, true)
	w.reconcile()
	w.available(v1.Green) // the schema-2 candidate runs on shop_green; its check is pending
	w.reconcile()
	w.db.ops()

	w.releaseSchema("shop:3", "3")
	w.reconcile()
	w.expectOps("StopCopy shop_green", "DropCopy shop_green")
	if w.jobs[job] == nil || w.replicas(v1.Green) != 0 {
		t.Fatalf("the finished migration Job (kept: %v) stays for its logs; green (%d replicas) stops before a new copy", w.jobs[job] != nil, w.replicas(v1.Green))
	}
	w.reconcile()
	w.expectOps() // still waiting for green's pods to stop
	w.available(v1.Green)
	w.reconcile()
	w.expectOps("Copy shop_green") // the freeze of shop_blue stayed
	if c := w.site.Status.Database.Candidate; c == nil || c.SchemaRevision != "3" {
		t.Fatalf("candidate %+v", c)
	}
}

func TestReapplyingAnAbortedSchemaReleaseCopiesAgain(t *testing.T) {
	w, _ := switchedToSchema2(t)
	r2 := w.siteRev()
	w.annotate(v1.AnnotationAbort, r2)
	w.reconcile()
	w.reconcile()
	w.available(v1.Green)
	w.db.write("shop_blue", 50) // writes on the old side since the abort
	w.db.ops()
	delete(w.site.Annotations, v1.AnnotationAbort)
	w.releaseSchema("shop:1", "1")
	w.reconcile()
	w.releaseSchema("shop:2", "2") // r2 again: not a switch back onto the abandoned shop_green
	w.reconcile()
	w.expectOps("MoveAside shop_green", "Freeze shop_blue")
	w.reconcile()
	w.expectOps("Copy shop_green")
	if got := w.db.get("shop_green"); got.Marker.Source != "shop_blue" {
		t.Fatalf("shop_green is not a fresh copy of shop_blue: %+v", got.Marker)
	}
}
