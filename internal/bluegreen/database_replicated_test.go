package bluegreen

import (
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbstate"
)

// Scenarios of the replicated cutover (spec.database.cutover.method
// Replicated): the live database is frozen only in the decision that
// switches.

func replicated(fallback v1.CutoverFallback) func(*v1.SiteDeployment) {
	return func(s *v1.SiteDeployment) {
		s.Spec.Database.Cutover = &v1.CutoverSpec{Method: v1.CutoverReplicated, OnUnsupported: fallback}
	}
}

// replicatedWorld is a rehearsed release with a migration and manual
// promotion, waiting for its approval, whose cutover is Replicated.
func replicatedWorld(t *testing.T, fallback v1.CutoverFallback) *world {
	t.Helper()
	w, _ := rehearsalWorld(t, true, manual)
	replicated(fallback)(w.site)
	w.rehearseToApproval(false)
	return w
}

// promoteToReplica approves the candidate and runs the cutover until its
// next database follows the live one.
func (w *world) promoteToReplica() {
	w.t.Helper()
	w.annotate(v1.AnnotationPromote, w.siteRev())
	w.reconcile()
	w.available(v1.Green) // the preview pods stopped
	w.reconcile()
	w.expectWritable("shop_blue")
}

// replicaReady runs the cutover until the candidate starts on the
// migrated replica, held read-only.
func (w *world) replicaReady() {
	w.t.Helper()
	w.promoteToReplica()
	w.reconcile()
	w.finishJob(w.site.Status.Database.Candidate.MigrationJob, true)
	w.reconcile()
	w.reconcile()
	w.expectStage(v1.StageCuttingOver, v1.StepReady)
}

func TestReplicatedCutoverFreezesOnlyInTheDecisionThatSwitches(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackCopy)
	r1, r2 := w.site.Status.ActiveRevision, w.siteRev()
	w.promoteToReplica()
	w.expectStage(v1.StageCuttingOver, v1.StepReplicating)
	if got := w.db.get("shop_green"); got.Marker.Role != dbstate.RoleReplica || got.Marker.Source != "shop_blue" {
		t.Fatalf("shop_green is not a replica of shop_blue: %+v", got.Marker)
	}
	if c := w.site.Status.Database.Candidate.Cutover; c == nil || c.Method != v1.CutoverReplicated || c.Reason != "" {
		t.Fatalf("status.database.candidate.cutover = %+v; want Replicated", c)
	}
	w.reconcile()
	w.expectStage(v1.StageCuttingOver, v1.StepMigrating)
	w.finishJob(w.site.Status.Database.Candidate.MigrationJob, true)
	w.reconcile() // the migrated replica is held read-only
	if !w.db.get("shop_green").Frozen {
		t.Fatalf("the replica is not held read-only before the candidate starts: %s", w.site.Status.Message)
	}
	w.reconcile()
	w.expectStage(v1.StageCuttingOver, v1.StepReady)
	if w.replicas(v1.Green) != 3 || revisionOf(w.deps[v1.Green]) != r2 {
		t.Fatalf("the candidate must start at full size on the replica before the freeze: green at %d", w.replicas(v1.Green))
	}
	w.expectWritable("shop_blue")
	w.db.ops()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, r2)
	// Freeze, catch-up and switch in one decision; the replication goes after.
	if got := w.db.ops(); !slices.Equal(got[:2], []string{"Freeze shop_blue", "CatchUp shop_green"}) || !slices.Contains(got, "DropReplication shop_green") {
		t.Fatalf("the switching decision ran %q; want the freeze and the catch-up first, the replication dropped after", got)
	}
	d := w.site.Status.Database
	if d.ActiveName != "shop_green" || d.PreviousName != "shop_blue" || d.LastCutover == nil || d.LastCutover.Method != v1.CutoverReplicated {
		t.Fatalf("after the switch: %+v", d)
	}
	if d.LastFreezeDuration == nil || d.LastFreezeDuration.Duration != 0 {
		t.Errorf("lastFreezeDuration = %v; want the one decision's (0 on the test clock)", d.LastFreezeDuration)
	}
	if len(w.db.replication.replicas) != 0 {
		t.Errorf("replication left behind: %v", w.db.replication.replicas)
	}
	_ = r1
}

func TestReplicatedCutoverFallsBackToACopyAndSaysWhy(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackCopy)
	w.db.replication.unsupported = []string{"wal_level is replica, not logical (set wal_level = logical and restart PostgreSQL)"}
	w.annotate(v1.AnnotationPromote, w.siteRev())
	w.reconcile()
	w.available(v1.Green) // the preview pods stopped
	w.reconcile()
	if !w.hasEvent(v1.EventDatabaseCutoverFallback) {
		t.Fatalf("no %s event: %+v", v1.EventDatabaseCutoverFallback, w.last.Events)
	}
	c := w.site.Status.Database.Candidate
	if c.Cutover == nil || c.Cutover.Method != v1.CutoverCopy || !strings.Contains(c.Cutover.Reason, "wal_level is replica") {
		t.Fatalf("status.database.candidate.cutover = %+v; want Copy with the reason", c.Cutover)
	}
	if !w.db.get("shop_blue").Frozen || w.db.get("shop_green").Marker.Role != dbstate.RolePrepared {
		t.Fatalf("the copy cutover did not begin: %s", w.site.Status.Message)
	}
}

func TestReplicatedCutoverWithOnUnsupportedFailAbortsBeforeAnyFreeze(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackFail)
	w.db.replication.unsupported = []string{"tables without a primary key or replica identity: public.log"}
	w.promoteToReplica()
	if w.site.Status.AbortReason != v1.ReasonReplicationUnsupported || !strings.Contains(w.site.Status.Message, "public.log") {
		t.Fatalf("want an abort naming the table, got %s: %s", w.site.Status.AbortReason, w.site.Status.Message)
	}
	w.reconcile()
	w.expectWritable("shop_blue")
}

func TestAMigrationReplicationCannotCarryFallsBackBeforeTheFreeze(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackCopy)
	w.db.replication.conflicts = []string{"column public.users.name is gone on the next database (renamed or dropped)"}
	w.promoteToReplica()
	w.reconcile()
	w.finishJob(w.site.Status.Database.Candidate.MigrationJob, true)
	w.reconcile() // held
	w.reconcile() // the conflict is read after the hold
	c := w.site.Status.Database.Candidate
	if c.Cutover.Method != v1.CutoverCopy || !strings.Contains(c.Cutover.Reason, "public.users.name") {
		t.Fatalf("cutover = %+v; want the copy, naming the column", c.Cutover)
	}
	if w.db.get("shop_green").Exists || len(w.db.replication.replicas) != 0 {
		t.Fatalf("the replica was not dropped: %+v", w.db.get("shop_green"))
	}
	w.expectWritable("shop_blue")
}

func TestReplicatedCutoverWaitsForTheLagAndGivesUpWithoutFreezing(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackCopy)
	w.replicaReady()
	w.db.replication.lag = 64 << 20
	w.available(v1.Green)
	w.reconcile()
	w.expectWritable("shop_blue")
	if !strings.Contains(w.site.Status.Message, "behind by 67108864 bytes") {
		t.Fatalf("the wait does not say how far behind: %s", w.site.Status.Message)
	}
	w.advance(31 * time.Minute) // copyTimeout
	w.reconcile()
	if w.site.Status.AbortReason != v1.ReasonCatchUpFailed {
		t.Fatalf("want an abort for the lag, got %q: %s", w.site.Status.AbortReason, w.site.Status.Message)
	}
	w.reconcile()
	w.expectWritable("shop_blue")
	if w.db.get("shop_green").Exists || len(w.db.replication.replicas) != 0 {
		t.Fatalf("the replica was left behind")
	}
}

func TestACatchUpThatKeepsFailingUnfreezesAndAborts(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackCopy)
	w.replicaReady()
	w.available(v1.Green)
	// The switching decision's catch-up failed: live stays frozen, the
	// switch was never written (as the controller leaves it).
	w.db.run(w.site.Status.Database, []DatabaseStep{{Op: OpFreeze, Name: "shop_blue"}})
	w.advance(21 * time.Second) // twice catchUpTimeout
	w.reconcile()
	if w.site.Status.AbortReason != v1.ReasonCatchUpFailed || !strings.Contains(w.site.Status.Message, "writable again") {
		t.Fatalf("want an abort that unfreezes, got %q: %s", w.site.Status.AbortReason, w.site.Status.Message)
	}
	w.reconcile()
	w.expectWritable("shop_blue")
}

// A manager that stops after any decision's database steps and object
// writes, before its status write, resumes: the same replica is followed,
// migrated once, the switch is made once, and nothing is left behind.
func TestReplicatedCutoverResumesAfterARestartAtEveryStep(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackCopy)
	r2 := w.siteRev()
	w.annotate(v1.AnnotationPromote, r2)
	w.step(true)
	w.available(v1.Green)
	w.step(true)
	w.expectStage(v1.StageCuttingOver, v1.StepReplicating)
	oid := w.db.get("shop_green").OID
	w.step(true)
	w.expectStage(v1.StageCuttingOver, v1.StepMigrating)
	w.finishJob(w.site.Status.Database.Candidate.MigrationJob, true)
	w.step(true)
	w.step(true)
	w.expectStage(v1.StageCuttingOver, v1.StepReady)
	if w.db.get("shop_green").OID != oid {
		t.Fatal("the replica was made again after a restart")
	}
	w.expectWritable("shop_blue")
	switches := w.switches
	w.available(v1.Green)
	w.step(true)
	w.expect(v1.PhaseHealthy, v1.Green, r2)
	if w.switches-switches != 1 || w.db.replication.caughtUp != 1 || len(w.db.replication.replicas) != 0 {
		t.Fatalf("%d switches, %d catch-ups, replication left %v; want one of each, none left", w.switches-switches, w.db.replication.caughtUp, w.db.replication.replicas)
	}
	if d := w.site.Status.Database; d.ActiveName != "shop_green" || d.LastCutover == nil || d.LastCutover.Method != v1.CutoverReplicated {
		t.Fatalf("after the switch: %+v", d)
	}
}

// Replication objects a crash left behind (the drop after a switch never
// ran) are dropped by the steady site.
func TestLeftoverReplicationIsDroppedOnceSteady(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackCopy)
	w.replicaReady()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, w.siteRev())
	w.db.replication.replicas = map[string]*simReplica{"shop_green": {synced: true}} // as if the drop never ran
	w.db.ops()
	w.reconcile()
	if got := w.db.ops(); !slices.Contains(got, "DropReplication shop_green") || len(w.db.replication.replicas) != 0 {
		t.Fatalf("a steady site ran %q and left %v", got, w.db.replication.replicas)
	}
}

// A replica whose subscription stops on an apply error once the candidate
// runs on it (a constraint that rejects a row written later) is dropped
// only after the candidate's pods stopped, and the cutover copies instead.
func TestAReplicaThatStopsUnderTheCandidateIsDroppedAfterItsPods(t *testing.T) {
	w := replicatedWorld(t, v1.FallbackCopy)
	w.replicaReady()
	w.db.replication.replicas["shop_green"].stopped = true
	w.db.ops()
	w.reconcile()
	if w.replicas(v1.Green) != 0 || !w.db.get("shop_green").Exists || !strings.Contains(w.site.Status.Message, "stopping green's pods before dropping the replica") {
		t.Fatalf("green at %d, replica exists %v: %s", w.replicas(v1.Green), w.db.get("shop_green").Exists, w.site.Status.Message)
	}
	w.available(v1.Green) // its pods are gone
	w.reconcile()
	if w.db.get("shop_green").Exists || w.site.Status.Database.Candidate.Cutover.Method != v1.CutoverCopy {
		t.Fatalf("the replica was not dropped for a copy: %+v", w.site.Status.Database.Candidate)
	}
	w.expectWritable("shop_blue")
}
