package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/controllers"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// schemaSite is a healthy site on blue whose database <base>_blue holds a
// table "items" with rows 1..3 at schema revision 1, with a migration Job.
func schemaSite(t *testing.T, srv *pgtest.Server, base string, mutate ...func(*v1.SiteDeployment)) (*site, string) {
	t.Helper()
	mutate = append([]func(*v1.SiteDeployment){func(sd *v1.SiteDeployment) {
		sd.Spec.Database.Migration = &v1.MigrationSpec{Template: podTemplate("shop-migrate:2")}
	}}, mutate...)
	// One base per run: the tests share the server, also with -count.
	base += "_" + strings.ReplaceAll(strings.TrimPrefix(newNamespace(t), "t-"), "-", "")
	s := databaseSite(t, srv, base, "1", mutate...)
	r1 := s.revision()
	s.available(v1.Blue, r1, 1)
	s.waitActive(v1.PhaseHealthy, v1.Blue, r1)
	sqlExec(t, srv, base+"_blue", "CREATE TABLE items (id int PRIMARY KEY, note text)",
		"INSERT INTO items SELECT g, 'before' FROM generate_series(1, 3) g")
	return s, r1
}

// withoutRehearsal keeps a site's schema-changing releases frozen from
// their start to their switch (spec.database.rehearse: false).
func withoutRehearsal(sd *v1.SiteDeployment) { sd.Spec.Database.Rehearse = ptr.To(false) }

// sqlTry runs statements on db; the first error is returned.
func sqlTry(srv *pgtest.Server, db string, stmts ...string) error {
	return srv.Exec(context.Background(), db, stmts...)
}

func sqlExec(t *testing.T, srv *pgtest.Server, db string, stmts ...string) {
	t.Helper()
	if err := sqlTry(srv, db, stmts...); err != nil {
		t.Fatal(err)
	}
}

func sqlInt(t *testing.T, srv *pgtest.Server, db, q string) int64 {
	t.Helper()
	n, err := srv.QueryInt(context.Background(), db, q)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// refusesWrites asserts a write to db fails with PostgreSQL's read-only
// error (SQLSTATE 25006): refused cleanly, not lost.
func refusesWrites(t *testing.T, srv *pgtest.Server, db string) {
	t.Helper()
	err := sqlTry(srv, db, "INSERT INTO items VALUES (1000, 'frozen?')")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Fatalf("a write to %s: want SQLSTATE 25006 (read-only), got %v", db, err)
	}
}

func hasColumn(t *testing.T, srv *pgtest.Server, db, column string) bool {
	t.Helper()
	return sqlInt(t, srv, db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = '"+column+"'") == 1
}

// waitDatabase waits for status.database to satisfy ok.
func (s *site) waitDatabase(what string, ok func(*v1.DatabaseStatus) bool) *v1.SiteDeployment {
	s.t.Helper()
	var sd *v1.SiteDeployment
	eventually(s.t, what, func() error {
		sd = s.get()
		if d := sd.Status.Database; d == nil || !ok(d) {
			return fmt.Errorf("status.database %+v (%s: %s)", d, sd.Status.Phase, sd.Status.Message)
		}
		return nil
	})
	return sd
}

// migrationJob waits for the candidate's migration Job.
func (s *site) migrationJob() *batchv1.Job {
	s.t.Helper()
	var job *batchv1.Job
	eventually(s.t, "a migration Job", func() error {
		jobs := &batchv1.JobList{}
		if err := k8sClient.List(context.Background(), jobs, client.InNamespace(s.ns), client.HasLabels{v1.LabelMigration}); err != nil {
			return err
		}
		if len(jobs.Items) != 1 {
			return fmt.Errorf("%d migration jobs", len(jobs.Items))
		}
		job = &jobs.Items[0]
		return nil
	})
	return job
}

func (s *site) eventWith(reason string) *eventsv1.Event {
	s.t.Helper()
	var found *eventsv1.Event
	eventually(s.t, "event "+reason, func() error {
		evs := &eventsv1.EventList{}
		if err := k8sClient.List(context.Background(), evs, client.InNamespace(s.ns)); err != nil {
			return err
		}
		for i := range evs.Items {
			if evs.Items[i].Reason == reason {
				found = &evs.Items[i]
				return nil
			}
		}
		return fmt.Errorf("no %s event among %d", reason, len(evs.Items))
	})
	return found
}

func TestSchemaReleaseFreezesCopiesMigratesSwitchesAndAbortRestoresTheOldDatabase(t *testing.T) {
	srv := postgresServer(t)
	s, r1 := schemaSite(t, srv, "sr_ok", withoutRehearsal)

	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template = podTemplate("shop:2")
		sd.Spec.Database.SchemaRevision = "2"
	})
	r2 := s.revision()
	job := s.migrationJob()
	// The old side is frozen, the copy holds its data, and the migration
	// runs against the copy with green's settings; the candidate waits.
	refusesWrites(t, srv, s.db(v1.Blue))
	if n := sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM items"); n != 3 {
		t.Fatalf("the copy has %d rows, want 3", n)
	}
	if sec := colorSecret(s, v1.Green); sec["DATABASE_NAME"] != s.db(v1.Green) {
		t.Fatalf("green's Secret names %q during the migration", sec["DATABASE_NAME"])
	}
	// The Job has a Secret of its own naming the copy, so a late pod can
	// only ever reach the copy.
	var own string
	for _, e := range job.Spec.Template.Spec.Containers[0].EnvFrom {
		if e.SecretRef != nil {
			own = e.SecretRef.Name
		}
	}
	sec := &corev1.Secret{}
	if err := k8sClient.Get(context.Background(), s.key(own), sec); err != nil || string(sec.Data["DATABASE_NAME"]) != s.db(v1.Green) ||
		job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Fatalf("migration Job %s does not run once against the copy: Secret %q (%v) %v", job.Name, own, err, sec.Data["DATABASE_NAME"])
	}
	sd := s.waitDatabase("migrating", func(d *v1.DatabaseStatus) bool {
		return d.Candidate != nil && d.Candidate.Step == v1.StepMigrating && d.FrozenSince != nil
	})
	if sd.Status.Phase != v1.PhaseProgressing || !strings.Contains(sd.Status.Message, job.Name) {
		t.Fatalf("status while migrating: %s: %s", sd.Status.Phase, sd.Status.Message)
	}
	if d := s.deployment(v1.Green); d != nil && d.Spec.Template.Labels[v1.LabelRevision] == r2 {
		t.Fatal("the candidate started before its database was migrated")
	}

	// The test plays the migration Job.
	sqlExec(t, srv, s.db(v1.Green), "ALTER TABLE items ADD COLUMN priority int NOT NULL DEFAULT 0")
	s.finishJob(job.Name, true)
	s.available(v1.Green, r2, 1)
	sd = s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	d := sd.Status.Database
	if d.ActiveName != s.db(v1.Green) || d.PreviousName != s.db(v1.Blue) || d.SchemaRevision != "2" || d.FrozenSince == nil || d.Candidate != nil {
		t.Fatalf("status.database after the switch: %+v", d)
	}
	sqlExec(t, srv, s.db(v1.Green), "INSERT INTO items VALUES (4, 'after', 1)", "INSERT INTO items VALUES (5, 'after', 1)",
		"UPDATE items SET note = 'changed' WHERE id = 1")
	refusesWrites(t, srv, s.db(v1.Blue))

	// Abort after the switch: back to blue and its database, writable again.
	s.annotate(v1.AnnotationAbort, r2)
	sd = s.waitActive(v1.PhaseAborted, v1.Blue, r1)
	sd = s.waitDatabase("back on sr_ok_blue", func(d *v1.DatabaseStatus) bool {
		return d.ActiveName == s.db(v1.Blue) && d.WritesSinceSwitch == 3
	})
	if d := sd.Status.Database; d.PreviousName != s.db(v1.Green) || d.SchemaRevision != "1" || d.Blue != s.db(v1.Blue) {
		t.Fatalf("status.database after the abort: %+v", d)
	}
	if ev := s.eventWith("WritesNotCarriedBack"); !strings.Contains(ev.Note, s.db(v1.Green)+" wrote 3 rows") {
		t.Fatalf("event: %s", ev.Note)
	}
	sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (6, 'after abort')")
	if hasColumn(t, srv, s.db(v1.Blue), "priority") || sqlInt(t, srv, s.db(v1.Blue), "SELECT count(*) FROM items WHERE note = 'before'") != 3 {
		t.Fatal("the old database does not have its old schema and data back")
	}
	refusesWrites(t, srv, s.db(v1.Green)) // kept for inspection, read-only
	if n := sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM items"); n != 5 {
		t.Fatalf("the abandoned database has %d rows, want 5", n)
	}
}

func TestSchemaReleaseMigrationFailureDropsTheCopyAndUnfreezes(t *testing.T) {
	srv := postgresServer(t)
	s, r1 := schemaSite(t, srv, "sr_fail", withoutRehearsal)
	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template = podTemplate("shop:2")
		sd.Spec.Database.SchemaRevision = "2"
	})
	job := s.migrationJob()
	refusesWrites(t, srv, s.db(v1.Blue))
	s.finishJob(job.Name, false)

	sd := s.waitPhase(v1.PhaseDegraded)
	// The message quotes the SQL error and says where the rest of the log is.
	if c := condition(sd, v1.ConditionDegraded); c == nil || c.Reason != v1.ReasonMigrationFailed ||
		!strings.Contains(c.Message, "pod "+job.Name+"-x7k2p: container web failed (Error, exit code 3): BEGIN\n"+failedWith+"; see kubectl logs job/"+job.Name+" -n "+s.ns) {
		t.Fatalf("Degraded condition %+v", c)
	}
	if job.Spec.Template.Spec.Containers[0].TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Fatalf("the migration's pods leave no log lines when they fail: %+v", job.Spec.Template.Spec.Containers[0])
	}
	s.waitDatabase("the copy given up", func(d *v1.DatabaseStatus) bool {
		return d.Candidate == nil && d.ActiveName == s.db(v1.Blue) && d.Green == s.db(v1.Blue) && d.FrozenSince == nil
	})
	eventually(t, "the copy dropped and blue writable", func() error {
		if n := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+s.db(v1.Green)+"'"); n != 0 {
			return fmt.Errorf("sr_fail_green still exists")
		}
		return sqlTry(srv, s.db(v1.Blue), "INSERT INTO items VALUES (7, 'after the failure')")
	})
	if n := sqlInt(t, srv, s.db(v1.Blue), "SELECT count(*) FROM items"); n != 4 {
		t.Fatalf("blue has %d rows, want the 3 from before the freeze and 1 after", n)
	}
	if sd := s.get(); sd.Status.ActiveRevision != r1 || sd.Status.AbortedRevision == "" {
		t.Fatalf("status %+v", sd.Status)
	}
}

// Two schema-changing releases by Template copy: the second copy goes to
// blue's name, so the first database is moved aside, and at the switch it
// is dropped as beyond retainPrevious (1: the previous database, green's).
func TestSchemaReleasesByTemplateKeepOnlyRetainPreviousCopies(t *testing.T) {
	srv := postgresServer(t)
	s, r1 := schemaSite(t, srv, "sr_tp", withoutRehearsal, func(sd *v1.SiteDeployment) {
		sd.Spec.Database.CloneMethod = v1.CloneTemplate
		sd.Spec.Database.Migration = nil
	})
	for i, c := range []v1.Color{v1.Green, v1.Blue} {
		schema := fmt.Sprint(i + 2)
		s.update(func(sd *v1.SiteDeployment) {
			sd.Spec.Template = podTemplate("shop:" + schema)
			sd.Spec.Database.SchemaRevision = schema
		})
		rev := s.revision()
		if c == v1.Blue {
			// blue still runs r1 warm: it is stopped before its
			// database is replaced (the test plays the Deployment controller)
			s.available(v1.Blue, r1, 0)
		}
		s.available(c, rev, 1)
		sd := s.waitActive(v1.PhaseHealthy, c, rev)
		if d := sd.Status.Database; d.ActiveName != s.db(c) || d.PreviousName != s.db(c.Other()) || d.SchemaRevision != schema {
			t.Fatalf("after schema %s: %+v", schema, d)
		}
		if n := sqlInt(t, srv, s.db(c), "SELECT count(*) FROM items"); n != 3 {
			t.Fatalf("%s has %d rows, want 3", s.db(c), n)
		}
	}
	eventually(t, "the moved-aside first database dropped", func() error {
		q := "SELECT count(*) FROM pg_database WHERE datname LIKE '" + s.base + "%'"
		if n := sqlInt(t, srv, "postgres", q); n != 2 {
			return fmt.Errorf("%d databases for %s, want the active and the previous one", n, s.base)
		}
		return nil
	})
	s.eventWith("DatabasesDropped")
}

// Deleting a site in the middle of a schema-changing release leaves its
// databases usable: the copy is dropped and the frozen one writable again.
func TestDeletingASiteMidReleaseUnfreezesItsDatabase(t *testing.T) {
	srv := postgresServer(t)
	s, _ := schemaSite(t, srv, "sr_del", withoutRehearsal)
	if sd := s.get(); !slices.Contains(sd.Finalizers, controllers.DatabaseFinalizer) {
		t.Fatalf("finalizers %v", sd.Finalizers)
	}
	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template = podTemplate("shop:2")
		sd.Spec.Database.SchemaRevision = "2"
	})
	s.migrationJob()
	refusesWrites(t, srv, s.db(v1.Blue))
	if err := k8sClient.Delete(context.Background(), s.get()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the site gone", func() error {
		err := k8sClient.Get(context.Background(), s.key("shop"), &v1.SiteDeployment{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (8, 'after the delete')")
	if n := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+s.db(v1.Green)+"'"); n != 0 {
		t.Fatal("the copy of the deleted site's release is still there")
	}
}
