package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// Schema-changing releases with a rehearsal (the default): the candidate is
// migrated, started, checked and approved on a snapshot copy while the live
// database takes writes; only the cutover refuses them.

// migrationSQL is what the test does in place of the migration Job.
const migrationSQL = "ALTER TABLE items ADD COLUMN priority int NOT NULL DEFAULT 0"

func manualPromotion(sd *v1.SiteDeployment) { sd.Spec.Strategy.AutoPromote = ptr.To(false) }

// migrationJobs lists the site's migration Jobs by name.
func (s *site) migrationJobs() map[string]*batchv1.Job {
	s.t.Helper()
	jobs := &batchv1.JobList{}
	if err := k8sClient.List(context.Background(), jobs, client.InNamespace(s.ns), client.HasLabels{v1.LabelMigration}); err != nil {
		s.t.Fatal(err)
	}
	out := map[string]*batchv1.Job{}
	for i := range jobs.Items {
		out[jobs.Items[i].Name] = &jobs.Items[i]
	}
	return out
}

// nextMigrationJob waits for the cutover's migration Job, the one after
// the rehearsal's, and returns its name.
func (s *site) nextMigrationJob(rehearsalJob string) string {
	s.t.Helper()
	var job string
	eventually(s.t, "the cutover's migration Job", func() error {
		for name := range s.migrationJobs() {
			if name != rehearsalJob {
				job = name
				return nil
			}
		}
		return fmt.Errorf("only the rehearsal's")
	})
	return job
}

// waitStage waits for the candidate database at stage and step.
func (s *site) waitStage(stage v1.DatabaseStage, step v1.CandidateStep) *v1.SiteDeployment {
	s.t.Helper()
	return s.waitDatabase(fmt.Sprintf("candidate %s/%s", stage, step), func(d *v1.DatabaseStatus) bool {
		return d.Candidate != nil && d.Candidate.Stage == stage && d.Candidate.Step == step
	})
}

// rehearseToApproval releases shop:2 at schema 2 and plays the rehearsal
// (its migration, the candidate's start) up to the wait for approval,
// writing to the live database throughout. It returns the rehearsal's
// migration Job and the revision.
func rehearseToApproval(t *testing.T, srv *pgtest.Server, s *site) (string, string) {
	t.Helper()
	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template = podTemplate("shop:2")
		sd.Spec.Database.SchemaRevision = "2"
	})
	r2 := s.revision()
	job := s.migrationJob()
	sd := s.waitStage(v1.StageRehearsing, v1.StepMigrating)
	if sd.Status.Database.FrozenSince != nil || !strings.Contains(sd.Status.Message, "rehearsing") {
		t.Fatalf("rehearsing: %s (frozen since %v)", sd.Status.Message, sd.Status.Database.FrozenSince)
	}
	sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (10, 'during the rehearsal')")
	if n := sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM items"); n != 3 {
		t.Fatalf("the rehearsal copy has %d rows, want the 3 of its snapshot", n)
	}
	sqlExec(t, srv, s.db(v1.Green), migrationSQL)
	s.finishJob(job.Name, true)
	s.available(v1.Green, r2, 1)
	sd = s.waitPhase(v1.PhaseAwaitingPromotion)
	if d := sd.Status.Database; d.Candidate.Stage != v1.StageAwaitingPromotion || d.FrozenSince != nil ||
		!strings.Contains(sd.Status.Message, "keeps taking writes until the cutover") {
		t.Fatalf("awaiting promotion: %+v: %s", d.Candidate, sd.Status.Message)
	}
	s.eventWith(v1.EventDatabaseRehearsalPassed)
	s.advance(time.Hour) // the approval takes a while
	sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (11, 'during the wait')")
	return job.Name, r2
}

// cutOverToFinalMigration approves r2 and plays the cutover up to the
// final copy's migration Job, which it returns.
func cutOverToFinalMigration(t *testing.T, srv *pgtest.Server, s *site, r2, rehearsalJob string) string {
	t.Helper()
	s.annotate(v1.AnnotationPromote, r2)
	s.waitStage(v1.StageCuttingOver, v1.StepFreezing)
	s.eventWith(v1.EventDatabaseCutoverStarted)
	s.available(v1.Green, r2, 0) // the preview pods stop before the freeze
	s.waitStage(v1.StageCuttingOver, v1.StepMigrating)
	refusesWrites(t, srv, s.db(v1.Blue))
	// It was vacuumed right before the freeze (autovacuum would record
	// last_autovacuum), so the copy inside the freeze read settled pages.
	if n := sqlInt(t, srv, s.db(v1.Blue), "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'items' AND last_vacuum IS NOT NULL"); n != 1 {
		t.Fatal("the live database was not vacuumed before its freeze")
	}
	job := s.nextMigrationJob(rehearsalJob)
	// The frozen side's rows are all there, those written during the
	// rehearsal and the wait too; the final copy is not migrated yet.
	live, final := sqlInt(t, srv, s.db(v1.Blue), "SELECT count(*) FROM items"), sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM items")
	if live < 5 || final != live || hasColumn(t, srv, s.db(v1.Green), "priority") {
		t.Fatalf("the final copy has %d rows of the frozen side's %d (with the writes of the rehearsal and the wait), migrated already: %v",
			final, live, hasColumn(t, srv, s.db(v1.Green), "priority"))
	}
	return job
}

func TestRehearsedSchemaReleaseRefusesWritesOnlyForTheCutover(t *testing.T) {
	srv := postgresServer(t)
	// The cutover copies by Template; the rehearsal by pg_dump whatever
	// cloneMethod says, as a Template copy would end the live sessions.
	s, r1 := schemaSite(t, srv, "rh_ok", manualPromotion, func(sd *v1.SiteDeployment) { sd.Spec.Database.CloneMethod = v1.CloneTemplate })
	live, err := postgres.Connect(context.Background(), srv.Conn(s.db(v1.Blue)), "live-client")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close(context.Background())

	rehearsalJob, r2 := rehearseToApproval(t, srv, s)
	if _, err := live.Exec(context.Background(), "INSERT INTO items VALUES (12, 'on a session from before the release')"); err != nil {
		t.Fatalf("the rehearsal ended or froze a live session: %v", err)
	}
	finalJob := cutOverToFinalMigration(t, srv, s, r2, rehearsalJob)
	jobs := s.migrationJobs()
	if img := func(n string) string { return jobs[n].Spec.Template.Spec.Containers[0].Image }; img(finalJob) != img(rehearsalJob) {
		t.Fatalf("the cutover ran %s, the rehearsal %s", img(finalJob), img(rehearsalJob))
	}
	sqlExec(t, srv, s.db(v1.Green), migrationSQL)
	s.finishJob(finalJob, true)
	s.available(v1.Green, r2, 1)
	sd := s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	d := s.waitDatabase("the freeze measured", func(d *v1.DatabaseStatus) bool { return d.LastFreezeDuration != nil }).Status.Database
	if d.ActiveName != s.db(v1.Green) || d.PreviousName != s.db(v1.Blue) || d.Candidate != nil || d.FrozenSince == nil ||
		d.LastFreezeDuration.Duration <= 0 || d.LastFreezeDuration.Duration > time.Minute {
		t.Fatalf("status.database after the switch: %+v (%s)", d, sd.Status.Message)
	}
	// Every write the live side took, during the rehearsal and the wait
	// too, is in the new database, under the new schema.
	if n := sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM items WHERE id IN (1, 2, 3, 10, 11, 12)"); n != 6 || !hasColumn(t, srv, s.db(v1.Green), "priority") {
		t.Fatalf("the new database has %d of the 6 acknowledged rows", n)
	}
	sqlExec(t, srv, s.db(v1.Green), "INSERT INTO items VALUES (13, 'after', 1)")
	refusesWrites(t, srv, s.db(v1.Blue))
	// Its planner statistics are gathered once it is live, not inside the
	// freeze (autovacuum would record last_autoanalyze, not last_analyze).
	eventually(t, "the new database analyzed after the switch", func() error {
		if n := sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'items' AND last_analyze IS NOT NULL"); n != 1 {
			return fmt.Errorf("items was not analyzed")
		}
		return nil
	})
	if n := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '"+s.base+"%'"); n != 2 {
		t.Fatalf("%d databases of the site; want the active and the previous one (the rehearsal copy dropped)", n)
	}
	if hist := sd.Status.History; hist[0].Database != s.db(v1.Green) || hist[1].Revision != r1 {
		t.Fatalf("history %+v", hist)
	}
}

// A cutover whose migration fails on the final copy (it passed on the
// rehearsal) unfreezes at once, drops the final copy, and says so.
func TestCutoverMigrationFailureUnfreezesAndDropsTheFinalCopy(t *testing.T) {
	srv := postgresServer(t)
	s, r1 := schemaSite(t, srv, "rh_fail", manualPromotion)
	rehearsalJob, r2 := rehearseToApproval(t, srv, s)
	finalJob := cutOverToFinalMigration(t, srv, s, r2, rehearsalJob)
	s.finishJob(finalJob, false)
	sd := s.waitActive(v1.PhaseDegraded, v1.Blue, r1)
	if c := condition(sd, v1.ConditionDegraded); c == nil || c.Reason != v1.ReasonMigrationFailed ||
		!strings.HasPrefix(c.Message, "cutover: migration Job "+finalJob) || !strings.Contains(c.Message, "final copy") {
		t.Fatalf("Degraded condition %+v", c)
	}
	s.waitDatabase("the cutover given up", func(d *v1.DatabaseStatus) bool {
		return d.Candidate == nil && d.ActiveName == s.db(v1.Blue) && d.FrozenSince == nil
	})
	sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (20, 'after the failed cutover')")
	if n := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+s.db(v1.Green)+"'"); n != 0 {
		t.Fatal("the final copy is still there")
	}
}

// A manager restarted during the rehearsal copy, the wait for approval and
// the cutover's migration finishes the release from what it reads; the
// live database takes writes until the approval.
func TestRehearsedReleaseResumesAfterTheManagerRestarts(t *testing.T) {
	srv := postgresServer(t)
	s, _ := schemaSite(t, srv, "rh_rs", manualPromotion)
	// A prepared transaction holds a lock the rehearsal's pg_dump waits on.
	hold := "PREPARE TRANSACTION '" + s.base + "_hold'"
	sqlExec(t, srv, s.db(v1.Blue), "BEGIN", "LOCK TABLE items IN ACCESS EXCLUSIVE MODE", hold)
	t.Cleanup(func() { _ = sqlTry(srv, s.db(v1.Blue), "ROLLBACK PREPARED '"+s.base+"_hold'") })
	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template = podTemplate("shop:2")
		sd.Spec.Database.SchemaRevision = "2"
	})
	r2 := s.revision()
	s.waitStage(v1.StageRehearsing, v1.StepCopying)
	dumpWaits := func() error {
		if sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '"+s.db(v1.Blue)+"' AND wait_event_type = 'Lock'") == 0 {
			return fmt.Errorf("no copy waits on the lock")
		}
		return nil
	}
	eventually(t, "pg_dump waiting on the lock", dumpWaits)
	restartManager(t)
	eventually(t, "pg_dump of the new manager waiting on the lock", dumpWaits)
	sqlExec(t, srv, s.db(v1.Blue), "COMMIT PREPARED '"+s.base+"_hold'", "INSERT INTO items VALUES (30, 'during the copy')")

	job := s.migrationJob()
	sqlExec(t, srv, s.db(v1.Green), migrationSQL)
	s.finishJob(job.Name, true)
	s.available(v1.Green, r2, 1)
	s.waitPhase(v1.PhaseAwaitingPromotion)
	restartManager(t)
	sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (31, 'during the wait')")
	s.annotate(v1.AnnotationPromote, r2)
	s.waitStage(v1.StageCuttingOver, v1.StepFreezing)
	s.available(v1.Green, r2, 0)
	s.waitStage(v1.StageCuttingOver, v1.StepMigrating)
	restartManager(t)
	var final string
	eventually(t, "the final copy's migration Job", func() error {
		jobs := s.migrationJobs()
		for name := range jobs {
			if name != job.Name {
				final = name
			}
		}
		if len(jobs) != 2 {
			return fmt.Errorf("%d migration Jobs, want the rehearsal's and the final one", len(jobs))
		}
		return nil
	})
	sqlExec(t, srv, s.db(v1.Green), migrationSQL)
	s.finishJob(final, true)
	s.available(v1.Green, r2, 1)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if n := sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM items"); n != 5 {
		t.Fatalf("the new database has %d rows, want 5", n)
	}
	refusesWrites(t, srv, s.db(v1.Blue))
}

// Deleting a site while its rehearsed candidate awaits approval, or during
// its cutover, drops the copy and leaves the live database writable.
func TestDeletingASiteMidRehearsedReleaseLeavesItsDatabaseWritable(t *testing.T) {
	for _, cutover := range []bool{false, true} {
		t.Run(fmt.Sprintf("cutover=%v", cutover), func(t *testing.T) {
			srv := postgresServer(t)
			s, _ := schemaSite(t, srv, "rh_del", manualPromotion)
			job, r2 := rehearseToApproval(t, srv, s)
			if cutover {
				cutOverToFinalMigration(t, srv, s, r2, job) // frozen, the final copy made
			}
			if err := k8sClient.Delete(context.Background(), s.get()); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the site gone and its copy dropped", func() error {
				if err := k8sClient.Get(context.Background(), s.key("shop"), &v1.SiteDeployment{}); err == nil {
					return fmt.Errorf("the site is still there")
				}
				if n := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+s.db(v1.Green)+"'"); n != 0 {
					return fmt.Errorf("the copy is still there")
				}
				return nil
			})
			sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (40, 'after the delete')")
		})
	}
}
