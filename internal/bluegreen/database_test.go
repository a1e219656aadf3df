package bluegreen

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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

func (w *world) expectCandidate(step v1.CandidateStep) {
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
	w.expectOps("MeasureFreeze shop_blue", "Retain ")
	d := w.site.Status.Database
	if d.ActiveName != "shop_green" || d.SchemaRevision != "2" || d.PreviousName != "shop_blue" || d.PreviousSchemaRevision != "1" ||
		d.Blue != "shop_blue" || d.Green != "shop_green" || d.Candidate != nil || d.FrozenSince == nil || d.SwitchBaseline.RowsWritten == nil || *d.SwitchBaseline.RowsWritten != 2 ||
		d.LastFreezeDuration == nil || d.LastFreezeDuration.Duration != w.now.Sub(d.FrozenSince.Time) {
		t.Fatalf("status.database after the switch: %+v", d)
	}
	if !w.db.get("shop_blue").Frozen || w.db.get("shop_green").Frozen {
		t.Fatal("after the switch the old side must stay read-only and the new one take writes")
	}
	// History says which database each revision served from.
	if h := w.site.Status.History; len(h) != 2 || h[0].Database != "shop_green" || h[1].Revision != r1 || h[1].Database != "shop_blue" {
		t.Fatalf("history %+v, want %s on shop_green after %s on shop_blue", h, w.siteRev(), r1)
	}
	w.reconcile()
	w.expectOps() // steady: nothing to do
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
				job := w.toMigration()
				if p := w.jobs[job].Spec.Template.Spec.Containers[0].TerminationMessagePolicy; p != corev1.TerminationMessageFallbackToLogsOnError {
					t.Fatalf("migration's termination message policy %q: a failure would not quote its last log lines", p)
				}
				tc.fail(w, job)
				w.reconcile()
				if tc.reason == v1.ReasonMigrationFailed && !strings.Contains(w.site.Status.Message, failedPod(job)+"; see kubectl logs job/"+job+" -n prod") ||
					tc.reason == v1.ReasonMigrationTimedOut && !strings.Contains(w.site.Status.Message, "(see kubectl logs job/"+job+" -n prod)") {
					t.Fatalf("message %q does not quote the migration's error or say where its logs are", w.site.Status.Message)
				}
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
	w.advance(30*time.Minute - 200*time.Millisecond)
	w.reconcile()
	w.expectCandidate(v1.StepCopying)
	// The copy step asks for a look in DatabaseRecheck; copyTimeout comes sooner.
	if w.last.RequeueAfter != 200*time.Millisecond {
		t.Fatalf("no wake-up at copyTimeout: requeue after %s", w.last.RequeueAfter)
	}
	w.advance(200 * time.Millisecond)
	w.reconcile()
	w.expect(v1.PhaseDegraded, v1.Blue, r1)
	if w.site.Status.AbortReason != v1.ReasonCopyFailed {
		t.Fatalf("abort reason %q: %s", w.site.Status.AbortReason, w.site.Status.Message)
	}
	w.expectOps("Freeze shop_blue", "Copy shop_green", "Copy shop_green", "StopCopy shop_green", "DropCopy shop_green", "Unfreeze shop_blue")
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

// The server sends no event when a database step took effect: the planner
// asks to look again soon after any step, and not when there was none.
func TestDatabaseStepsAskForARecheck(t *testing.T) {
	w, _ := schemaWorld(t, true)
	w.reconcile()
	w.reconcile()
	if ops := w.db.ops(); len(ops) == 0 || w.last.RequeueAfter != DatabaseRecheck {
		t.Fatalf("after steps %q: requeue after %s, want %s", ops, w.last.RequeueAfter, DatabaseRecheck)
	}
	idle := newWorld(t)
	idle.withDatabase(false)
	idle.healthyOn("shop:1")
	idle.db.ops()
	idle.reconcile()
	if ops := idle.db.ops(); len(ops) != 0 || idle.last.RequeueAfter == DatabaseRecheck {
		t.Fatalf("a healthy site with steps %q requeues after %s", ops, idle.last.RequeueAfter)
	}
}
