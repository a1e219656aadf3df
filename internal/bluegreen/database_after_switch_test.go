package bluegreen

// Schema-changing releases after their switch: rollbacks, reverts, the
// next releases and retries.

import (
	"strings"
	"testing"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

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
	w.expectOps("MeasureFreeze shop_blue", "Retain ")
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
	if !strings.HasPrefix(d.PreviousName, "shop_green_prev_") || !w.db.get(d.PreviousName).Exists || w.db.get(d.PreviousName).Rows != 4 {
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
