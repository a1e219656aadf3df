package controllers_test

import (
	"context"
	"fmt"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A manager that stops in the middle of a copy, and again while the
// migration runs, leaves a release (without a rehearsal) the next manager
// finishes from what it reads: the half-done copy is made again, the finished one is not, the
// migration Job is not run twice, and the old side stays frozen throughout.
func TestSchemaReleaseResumesAfterTheManagerRestarts(t *testing.T) {
	srv := postgresServer(t)
	s, _ := schemaSite(t, srv, "sr_rs", withoutRehearsal)
	// A prepared transaction keeps its lock when the freeze ends every
	// session, so pg_dump waits on it: the copy is caught in the middle.
	sqlExec(t, srv, s.db(v1.Blue), "BEGIN", "LOCK TABLE items IN ACCESS EXCLUSIVE MODE", "PREPARE TRANSACTION '"+s.base+"_hold'")
	t.Cleanup(func() { _ = sqlTry(srv, s.db(v1.Blue), "ROLLBACK PREPARED '"+s.base+"_hold'") })

	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template = podTemplate("shop:2")
		sd.Spec.Database.SchemaRevision = "2"
	})
	r2 := s.revision()
	sd := s.waitDatabase("copying", func(d *v1.DatabaseStatus) bool { return d.Candidate != nil && d.Candidate.Step == v1.StepCopying })
	frozenSince := sd.Status.Database.FrozenSince
	// waitCopyBlocked waits for a pg_dump session that started after the
	// server time `after` (epoch microseconds) to wait on the lock.
	waitCopyBlocked := func(after int64) {
		eventually(t, "pg_dump waiting on the lock", func() error {
			if sqlInt(t, srv, "postgres", fmt.Sprintf(`SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'
				AND wait_event_type = 'Lock' AND extract(epoch FROM backend_start) * 1e6 > %d`, s.db(v1.Blue), after)) == 0 {
				return fmt.Errorf("no copy waits on the lock")
			}
			return nil
		})
	}
	serverNow := func() int64 {
		return sqlInt(t, srv, "postgres", "SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::int8")
	}
	waitCopyBlocked(0)
	restarted := serverNow()
	restartManager(t)
	waitCopyBlocked(restarted) // the new manager copies again
	sqlExec(t, srv, s.db(v1.Blue), "COMMIT PREPARED '"+s.base+"_hold'")
	refusesWrites(t, srv, s.db(v1.Blue))

	job := s.migrationJob()
	copyOID := sqlInt(t, srv, "postgres", "SELECT oid::int8 FROM pg_database WHERE datname = '"+s.db(v1.Green)+"'")
	restartManager(t)
	sqlExec(t, srv, s.db(v1.Green), "ALTER TABLE items ADD COLUMN priority int NOT NULL DEFAULT 0")
	s.finishJob(job.Name, true)
	s.available(v1.Green, r2, 1)
	sd = s.waitActive(v1.PhaseHealthy, v1.Green, r2)

	if got := sqlInt(t, srv, "postgres", "SELECT oid::int8 FROM pg_database WHERE datname = '"+s.db(v1.Green)+"'"); got != copyOID {
		t.Fatal("the finished copy was made again after the restart")
	}
	jobs := &batchv1.JobList{}
	if err := k8sClient.List(context.Background(), jobs, client.InNamespace(s.ns), client.HasLabels{v1.LabelMigration}); err != nil || len(jobs.Items) != 1 {
		t.Fatalf("want one migration Job, got %d (%v)", len(jobs.Items), err)
	}
	if d := sd.Status.Database; d.ActiveName != s.db(v1.Green) || !d.FrozenSince.Equal(frozenSince) {
		t.Fatalf("status.database %+v; frozen since %v before the restarts", d, frozenSince)
	}
	if n := sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM items"); n != 3 {
		t.Fatalf("the copy has %d rows, want 3", n)
	}
	refusesWrites(t, srv, s.db(v1.Blue))
	sqlExec(t, srv, s.db(v1.Green), "INSERT INTO items VALUES (4, 'after', 1)")
}
