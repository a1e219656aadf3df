package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// The replicated cutover on a real PostgreSQL: the next database follows
// the live one by logical replication from the approval to the switch.

func replicatedCutover(sd *v1.SiteDeployment) {
	sd.Spec.Database.Cutover = &v1.CutoverSpec{Method: v1.CutoverReplicated}
}

// replicationLeftovers counts understudy's slots, subscriptions and the
// publications in db.
func replicationLeftovers(t *testing.T, srv *pgtest.Server, db string) error {
	t.Helper()
	slots := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'understudy%'")
	subs := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_subscription WHERE subname LIKE 'understudy%'")
	pubs := sqlInt(t, srv, db, "SELECT count(*) FROM pg_publication WHERE pubname LIKE 'understudy%'")
	if slots+subs+pubs > 0 {
		return fmt.Errorf("%d slots, %d subscriptions, %d publications left", slots, subs, pubs)
	}
	return nil
}

func TestReplicatedCutoverRefusesWritesOnlyForTheCatchUp(t *testing.T) {
	srv := postgresServer(t)
	s, _ := schemaSite(t, srv, "rp_ok", manualPromotion, replicatedCutover)
	sqlExec(t, srv, s.db(v1.Blue), "CREATE TABLE events (id bigserial PRIMARY KEY, note text)",
		"INSERT INTO events (note) SELECT 'before' FROM generate_series(1, 50)")
	rehearsalJob, r2 := rehearseToApproval(t, srv, s)

	s.annotate(v1.AnnotationPromote, r2)
	s.waitStage(v1.StageCuttingOver, v1.StepFreezing)
	s.available(v1.Green, r2, 0) // the preview pods stop; the rehearsal copy goes
	sd := s.waitStage(v1.StageCuttingOver, v1.StepMigrating)
	if c := sd.Status.Database.Candidate.Cutover; c == nil || c.Method != v1.CutoverReplicated {
		t.Fatalf("status.database.candidate.cutover = %+v; want Replicated", c)
	}
	// The live side takes writes while the next database follows it, and
	// while the migration runs there.
	sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (20, 'while it follows')", "INSERT INTO events (note) VALUES ('while it follows')")
	job := s.nextMigrationJob(rehearsalJob)
	sqlExec(t, srv, s.db(v1.Green), migrationSQL)
	s.finishJob(job, true)
	s.waitStage(v1.StageCuttingOver, v1.StepReady)
	// The candidate starts on it at full size, held read-only; live still writes.
	refusesWrites(t, srv, s.db(v1.Green))
	sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (21, 'while the candidate starts')", "INSERT INTO events (note) VALUES ('late')")
	if sd := s.get(); sd.Status.Database.FrozenSince != nil {
		t.Fatalf("live frozen before the switch: %s", sd.Status.Message)
	}
	s.available(v1.Green, r2, 1)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	d := s.waitDatabase("the freeze measured", func(d *v1.DatabaseStatus) bool { return d.LastFreezeDuration != nil }).Status.Database
	if d.LastCutover == nil || d.LastCutover.Method != v1.CutoverReplicated || d.LastFreezeDuration.Duration > 10*time.Second {
		t.Fatalf("status.database after the switch: %+v", d)
	}
	t.Logf("writes refused for %s", d.LastFreezeDuration.Duration)
	// Every write the live side took is on the new side, migrated; its
	// sequences are past live's; it takes writes, live does not.
	if n := sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM items WHERE id IN (1, 2, 3, 10, 11, 20, 21)"); n != 7 || !hasColumn(t, srv, s.db(v1.Green), "priority") {
		t.Fatalf("the new database has %d of the 7 acknowledged rows", n)
	}
	if live, next := sqlInt(t, srv, s.db(v1.Blue), "SELECT count(*) FROM events"), sqlInt(t, srv, s.db(v1.Green), "SELECT count(*) FROM events"); live != next || live != 52 {
		t.Fatalf("events: %d live, %d on the new side; want 52 on both", live, next)
	}
	sqlExec(t, srv, s.db(v1.Green), "INSERT INTO events (note) VALUES ('after the switch')", "INSERT INTO items VALUES (22, 'after', 1)")
	refusesWrites(t, srv, s.db(v1.Blue))
	eventually(t, "no replication left behind", func() error { return replicationLeftovers(t, srv, s.db(v1.Blue)) })
}

// replicatingToMigration approves r2 and plays the replicated cutover up
// to the next database's migration Job (the replica follows live then).
func replicatingToMigration(t *testing.T, srv *pgtest.Server, s *site, r2, rehearsalJob string) string {
	t.Helper()
	s.annotate(v1.AnnotationPromote, r2)
	s.waitStage(v1.StageCuttingOver, v1.StepFreezing)
	s.available(v1.Green, r2, 0)
	s.waitStage(v1.StageCuttingOver, v1.StepMigrating)
	job := s.nextMigrationJob(rehearsalJob)
	if err := replicationLeftovers(t, srv, s.db(v1.Blue)); err == nil {
		t.Fatal("no replication while the next database follows live")
	}
	return job
}

// A replicated cutover that ends before its switch (its migration fails
// on the next database, or the site is deleted) drops the replica with its
// slot, subscription and publication; live never froze.
func TestAReplicatedCutoverEndedBeforeItsSwitchLeavesNothingBehind(t *testing.T) {
	for _, end := range []string{"migration fails", "site deleted"} {
		t.Run(end, func(t *testing.T) {
			srv := postgresServer(t)
			s, r1 := schemaSite(t, srv, "rp_end", manualPromotion, replicatedCutover)
			rehearsalJob, r2 := rehearseToApproval(t, srv, s)
			job := replicatingToMigration(t, srv, s, r2, rehearsalJob)
			if end == "site deleted" {
				if err := k8sClient.Delete(t.Context(), s.get()); err != nil {
					t.Fatal(err)
				}
			} else {
				s.finishJob(job, false)
				sd := s.waitActive(v1.PhaseDegraded, v1.Blue, r1)
				if c := condition(sd, v1.ConditionDegraded); c == nil || c.Reason != v1.ReasonMigrationFailed || !strings.HasPrefix(c.Message, "cutover: ") {
					t.Fatalf("Degraded condition %+v", c)
				}
			}
			eventually(t, "the replica and its replication dropped", func() error {
				if n := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+s.db(v1.Green)+"'"); n != 0 {
					return fmt.Errorf("the replica is still there")
				}
				return replicationLeftovers(t, srv, s.db(v1.Blue))
			})
			sqlExec(t, srv, s.db(v1.Blue), "INSERT INTO items VALUES (40, 'after')")
		})
	}
}
