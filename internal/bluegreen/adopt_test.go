package bluegreen

import (
	"strings"
	"testing"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbstate"
)

// newSiteOn is a site with spec.database on a server holding databases.
func newSiteOn(t *testing.T, databases ...string) *world {
	w := newWorld(t)
	w.withDatabase(false)
	delete(w.db.dbs, "shop_blue")
	for _, name := range databases {
		w.db.oid++
		w.db.dbs[name] = dbstate.State{Name: name, Exists: true, OID: w.db.oid, AllowConnections: true}
	}
	return w
}

func TestAnExistingDatabaseUnderThePlainNameIsAdopted(t *testing.T) {
	w := newSiteOn(t, "shop")
	w.healthyOn("shop:1")
	d := w.site.Status.Database
	if d.ActiveName != "shop" || d.Blue != "shop" || d.Green != "shop" {
		t.Fatalf("status.database: %+v", d)
	}
	for _, s := range w.db.ran {
		if s.Op == OpCreate {
			t.Fatalf("created %s beside the adopted database", s.Name)
		}
	}
	if _, made := w.db.dbs["shop_blue"]; made {
		t.Fatal("an empty shop_blue was created")
	}

	// The first schema release copies from the adopted database; an abort goes back to it.
	w.db.ops()
	w.releaseSchema("shop:2", "2")
	w.reconcile()
	w.reconcile()
	w.reconcile()
	if c := w.site.Status.Database.Candidate; c == nil || c.Name != "shop_green" {
		t.Fatalf("candidate %+v", c)
	}
	w.available(v1.Green)
	w.reconcile()
	d = w.site.Status.Database
	if d.ActiveName != "shop_green" || d.PreviousName != "shop" {
		t.Fatalf("after the switch: %+v", d)
	}
	w.annotate(v1.AnnotationAbort, w.site.Status.ActiveRevision)
	w.reconcile()
	if d := w.site.Status.Database; d.ActiveName != "shop" || w.db.get("shop").Frozen {
		t.Fatalf("after the abort: %+v (frozen %v)", d, w.db.get("shop").Frozen)
	}
}

func TestNothingOnTheServerCreatesTheFirstDatabase(t *testing.T) {
	w := newSiteOn(t)
	w.reconcile()
	if ev := w.events(v1.EventDatabaseCreated); len(ev) != 1 || !strings.Contains(ev[0].Note, "shop_blue") {
		t.Fatalf("events %+v", w.last.Events)
	}
	w.available(v1.Blue)
	w.reconcile()
	if d := w.site.Status.Database; d.ActiveName != "shop_blue" || !w.db.get("shop_blue").Exists {
		t.Fatalf("status.database %+v", d)
	}
}

func TestLeftoversOfASiteAreNeverGuessedAt(t *testing.T) {
	for _, found := range [][]string{
		{"shop", "shop_blue"},
		{"shop_green"},
		{"shop_blue_prev_20261201000000"},
		{"shop", "shop_green_prev_20261201000000"},
		{"shop_blue", "shop_green"},
	} {
		t.Run(strings.Join(found, "+"), func(t *testing.T) {
			w := newSiteOn(t, found...)
			w.reconcile()
			w.reconcile()
			if w.site.Status.Phase != v1.PhaseDegraded || w.kstatus() != status.FailedStatus {
				t.Fatalf("phase %s (%s)", w.site.Status.Phase, w.site.Status.Message)
			}
			c := w.site.Status.Conditions[3]
			if c.Type != v1.ConditionDegraded || c.Reason != v1.ReasonDatabaseAmbiguous || !strings.Contains(c.Message, strings.Join(found, ", ")) ||
				!strings.Contains(c.Message, "RENAME TO shop") {
				t.Fatalf("condition %+v", c)
			}
			if len(w.deps) != 0 || len(w.db.ran) != 0 {
				t.Fatalf("acted on an ambiguous server: deployments %v, steps %v", w.deps, w.db.ops())
			}
		})
	}
}
