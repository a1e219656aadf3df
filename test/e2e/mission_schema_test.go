//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// migrationSQL is what the release's migration Job runs against the copy.
const migrationSQL = "ALTER TABLE items ADD COLUMN priority int NOT NULL DEFAULT 0"

// A schema-changing release of the demo site with manual promotion while a
// client keeps writing through the Service. It is rehearsed first: the live
// database is copied from a snapshot while it keeps taking writes, the
// migration Job (psql) runs on the copy, v2 starts on it, and approval is
// awaited: every write is acknowledged through the rehearsal and the wait.
// On approval the replicated cutover (spec.database.cutover.method
// Replicated): the next database follows the active one by logical
// replication while it keeps acknowledging writes, is migrated again by
// the same Job template, v2 starts on it held read-only, and only then is
// the active database frozen, for the catch-up and the switch. Every write
// acknowledged (201), during the rehearsal, the wait and the replication
// too, is in the new database afterwards; writes during the catch-up are
// refused with SQLSTATE 25006 and nothing else; writes after the switch
// land in the new database (its sequence past the old one's). An abort then brings back the old color on its
// old database: old schema, every row it acknowledged, writable again, with
// the new side's transactions reported as not carried back.
func testSchemaRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	c := crClient(t)
	pg, err := pgtest.Start(pgtest.Options{Settings: map[string]string{"wal_level": "logical"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	adminSecret(t, ns, "shop-db-admin", pg)

	begin := time.Now()
	site := demoSite(ns, "shop", "v1", 2)
	site.Spec.Strategy.AutoPromote = ptr.To(false)
	site.Spec.Database = &deployv1alpha1.DatabaseSpec{
		ConnectionSecretRef: deployv1alpha1.SecretReference{Name: "shop-db-admin"},
		Name:                "shop",
		SchemaRevision:      "1",
		Cutover:             &deployv1alpha1.CutoverSpec{Method: deployv1alpha1.CutoverReplicated, OnUnsupported: deployv1alpha1.FallbackFail},
		Migration: &deployv1alpha1.MigrationSpec{
			Template: migrationPod(),
			Timeout:  &metav1.Duration{Duration: 2 * time.Minute},
		},
	}
	if err := c.Create(ctx, site); err != nil {
		t.Fatal(err)
	}
	rev1 := waitHealthy(t, c, ns, "shop", 90*time.Second).Status.ActiveRevision
	waitDatabase(t, c, ns, "shop", "v1 on shop_blue", func(d *deployv1alpha1.DatabaseStatus) bool {
		return d.ActiveName == "shop_blue"
	})
	// The operator created shop_blue empty; the application's schema is ours.
	psql(t, pg, "shop_blue", "CREATE TABLE items (id serial PRIMARY KEY, note text NOT NULL)")
	t.Logf("v1 (%s) healthy on shop_blue in %s", rev1, time.Since(begin).Round(time.Millisecond))

	w := startWriter(t, ns, "shop")
	w.waitAck(t, "v1", begin, 20)

	// The release: v2 expects schema revision 2. It is rehearsed while v1
	// keeps acknowledging writes, and waits for a person.
	start := time.Now()
	setTemplate(t, c, ns, "shop", func(sd *deployv1alpha1.SiteDeployment) {
		sd.Spec.Template = demoTemplate("shop", "v2")
		sd.Spec.Database.SchemaRevision = "2"
	})
	sd := waitDatabase(t, c, ns, "shop", "v2 rehearsed, awaiting promotion", func(d *deployv1alpha1.DatabaseStatus) bool {
		return d.Candidate != nil && d.Candidate.Stage == deployv1alpha1.StageAwaitingPromotion
	})
	rehearsed := time.Now()
	if sd.Status.Phase != deployv1alpha1.PhaseAwaitingPromotion || sd.Status.Database.FrozenSince != nil {
		t.Fatalf("rehearsed: phase %s, frozen since %v: %s", sd.Status.Phase, sd.Status.Database.FrozenSince, sd.Status.Message)
	}
	rev2 := sd.Status.PreviewRevision
	if !hasColumn(t, pg, "shop_green", "priority") {
		t.Fatal("the rehearsal copy shop_green lacks the column the migration Job adds")
	}
	w.waitAck(t, "v1", rehearsed, 20) // the wait for a person
	res := w.snapshot()
	duringRehearsal := 0
	for _, r := range res {
		if r.at.After(start) && r.status != 201 {
			t.Fatalf("a write during the rehearsal or the wait was not acknowledged: %+v", r)
		}
		if r.at.After(start) && r.at.Before(rehearsed) {
			duringRehearsal++
		}
	}
	if duringRehearsal == 0 {
		t.Fatal("no write was acknowledged during the rehearsal")
	}
	t.Logf("v2 (%s) rehearsed on shop_green in %s; %d writes acknowledged meanwhile and %d during the wait, none refused",
		rev2, rehearsed.Sub(start).Round(time.Millisecond), duringRehearsal, len(res)-duringRehearsal)

	// The approval: shop_green follows shop_blue by replication and is
	// migrated again; shop_blue is frozen only for the catch-up and switch.
	approved := time.Now()
	env.Kubectl(t, "-n", ns, "annotate", "sdep", "shop", deployv1alpha1.AnnotationPromote+"="+rev2)
	_, switchedAt := waitSwitch(t, c, ns, "shop", rev1, 3*time.Minute)
	sd = waitDatabase(t, c, ns, "shop", "v2 on shop_green", func(d *deployv1alpha1.DatabaseStatus) bool {
		return d.ActiveName == "shop_green" && d.PreviousName == "shop_blue" && d.SchemaRevision == "2" &&
			d.FrozenSince != nil && d.Candidate == nil && d.LastFreezeDuration != nil
	})
	if sd.Status.ActiveColor != deployv1alpha1.Green {
		t.Fatalf("active color %s after the release, want green", sd.Status.ActiveColor)
	}
	if lc := sd.Status.Database.LastCutover; lc == nil || lc.Method != deployv1alpha1.CutoverReplicated {
		t.Fatalf("status.database.lastCutover = %+v; want Replicated", lc)
	}
	if left := queryInt(t, pg, "postgres", "SELECT count(*) FROM pg_replication_slots") +
		queryInt(t, pg, "postgres", "SELECT count(*) FROM pg_subscription") + queryInt(t, pg, "shop_blue", "SELECT count(*) FROM pg_publication"); left != 0 {
		t.Fatalf("%d replication slots, subscriptions or publications left behind after the switch", left)
	}
	frozenSince := sd.Status.Database.FrozenSince.Time
	checkMigrationJobs(t, ns, 2)
	if !hasColumn(t, pg, "shop_green", "priority") {
		t.Fatal("shop_green lacks the column the migration Job adds")
	}
	w.waitAck(t, "v2", switchedAt, 5)

	// Every write acknowledged so far is in the new database: those from
	// before the freeze (the rehearsal and the wait included) by the final
	// copy, those after the switch written there. Writes during the
	// cutover were refused with SQLSTATE 25006, and only then.
	res = w.snapshot()
	checkAcked(t, pg, "shop_green", res.acked("v1", "v2"))
	checkRefusals(t, res)
	if res.refusedWith("25006") == 0 {
		t.Fatal("no write was refused with SQLSTATE 25006 while shop_blue was frozen: the freeze was not seen by the writer")
	}
	var firstRefused, firstV2 time.Time
	for _, r := range res {
		if r.status == 503 && r.at.Before(approved) {
			t.Fatalf("a write was refused before the approval: %+v", r)
		}
		if r.status == 503 && firstRefused.IsZero() {
			firstRefused = r.at
		}
		if r.status == 201 && r.version == "v2" && firstV2.IsZero() {
			firstV2 = r.at
		}
	}
	t.Logf("approved %s after the rehearsal; shop_blue read-only since %s; writes refused for %s as the writer saw it "+
		"(first refusal to first v2 acknowledgement), lastFreezeDuration %s; %d writes acknowledged by v1, %d by v2, all in shop_green; refusals by SQLSTATE %v",
		approved.Sub(rehearsed).Round(time.Millisecond), frozenSince.Format("15:04:05.000"), firstV2.Sub(firstRefused).Round(time.Millisecond),
		sd.Status.Database.LastFreezeDuration.Duration, len(res.acked("v1")), len(res.acked("v2")), res.refusals())

	// Abort v2: traffic and writes go back to v1 on shop_blue.
	abortAt := time.Now()
	env.Kubectl(t, "-n", ns, "annotate", "sdep", "shop", deployv1alpha1.AnnotationAbort+"="+rev2, "--overwrite")
	back, backAt := waitSwitch(t, c, ns, "shop", rev2, time.Minute)
	if back != rev1 {
		t.Fatalf("abort of %s switched to %s, want %s", rev2, back, rev1)
	}
	sd = waitDatabase(t, c, ns, "shop", "back on shop_blue", func(d *deployv1alpha1.DatabaseStatus) bool {
		return d.ActiveName == "shop_blue" && d.PreviousName == "shop_green" && d.WritesSinceSwitch > 0
	})
	if sd.Status.ActiveColor != deployv1alpha1.Blue || sd.Status.Phase != deployv1alpha1.PhaseAborted {
		t.Fatalf("after the abort: active color %s phase %s, want blue Aborted", sd.Status.ActiveColor, sd.Status.Phase)
	}
	t.Logf("abort switched back to v1 on shop_blue in %s", backAt.Sub(abortAt).Round(time.Millisecond))
	// v1 available, v2 switched to after a write freeze, then aborted and rolled back.
	expectMetrics(t, ns, "shop", releases("promoted", 2), releases("aborted", 1), releases("rolled_back", 1),
		metricWant{"understudy_sitedeployment_write_freeze_seconds", perNamespace, 1})
	w.waitAck(t, "v1", backAt, 5)
	ev := waitEvent(t, ns, "WritesNotCarriedBack")
	if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, "shop_green") {
		t.Fatalf("event %s %s: %s", ev.Type, ev.Reason, ev.Note)
	}

	// shop_blue has its old schema and every row v1 acknowledged: before
	// the freeze and since the abort. shop_green keeps v2's writes.
	res = w.snapshot()
	if hasColumn(t, pg, "shop_blue", "priority") {
		t.Fatal("shop_blue has the migrated column after the abort")
	}
	checkAcked(t, pg, "shop_blue", res.acked("v1"))
	checkAcked(t, pg, "shop_green", res.acked("v2"))
	checkRefusals(t, res)
	// writesSinceSwitch counts v2's rows, not the catalog rows of the
	// ANALYZE after the switch: every acknowledged one, and at most one
	// for each request that was not (a write the abort's freeze ended
	// counts, as PostgreSQL counts attempted writes).
	unacked := 0
	for _, r := range res {
		if r.status != http.StatusCreated && r.version != "v1" {
			unacked++
		}
	}
	if n, acked := sd.Status.Database.WritesSinceSwitch, int64(len(res.acked("v2"))); n < acked || n > acked+int64(unacked) {
		t.Fatalf("writesSinceSwitch %d: v2 acknowledged %d writes and %d other requests may have written", n, acked, unacked)
	}
	if !strings.Contains(ev.Note, fmt.Sprintf("wrote %d rows", sd.Status.Database.WritesSinceSwitch)) {
		t.Fatalf("event %s says another figure than writesSinceSwitch %d", ev.Note, sd.Status.Database.WritesSinceSwitch)
	}
	preFreeze := 0
	for _, a := range res.acked("v1") {
		if a.at.Before(abortAt) {
			preFreeze++
		}
	}
	t.Logf("after the abort: shop_blue holds the %d writes v1 acknowledged before the freeze and %d since; "+
		"writesSinceSwitch %d (v2 acknowledged %d); event: %s", preFreeze, len(res.acked("v1"))-preFreeze,
		sd.Status.Database.WritesSinceSwitch, len(res.acked("v2")), ev.Note)
	t.Logf("%d requests (%d acknowledged, refusals by SQLSTATE %v) over %s",
		len(res), len(res.acked("v1", "v2")), res.refusals(), time.Since(begin).Round(time.Second))
}

// migrationPod runs the migration with psql against the color database
// given in DATABASE_URL (the operator adds the color's DATABASE_* Secret).
func migrationPod() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "migrate", Image: "postgres",
			Command: []string{"psql", "-v", "ON_ERROR_STOP=1", "-d", "$(DATABASE_URL)", "-c", migrationSQL}}},
	}}
}

// checkMigrationJobs checks that the release's n migration Jobs (the
// rehearsal's and the cutover's) ran and succeeded.
func checkMigrationJobs(t *testing.T, ns string, n int) {
	t.Helper()
	jobs, err := env.Client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: deployv1alpha1.LabelMigration + "=green"})
	if err != nil {
		t.Fatal(err)
	}
	complete := 0
	for i := range jobs.Items {
		if jobHas(&jobs.Items[i], batchv1.JobComplete) {
			complete++
		}
	}
	if len(jobs.Items) != n || complete != n {
		t.Fatalf("want %d complete migration Jobs for green, got %d (%d complete): %+v", n, len(jobs.Items), complete, jobs.Items)
	}
}

// waitDatabase waits for status.database to satisfy ok and returns the site.
func waitDatabase(t *testing.T, c client.Client, ns, name, what string, ok func(*deployv1alpha1.DatabaseStatus) bool) *deployv1alpha1.SiteDeployment {
	t.Helper()
	var sd *deployv1alpha1.SiteDeployment
	Eventually(t, 60*time.Second, what, func() (bool, error) {
		sd = getSite(t, c, ns, name)
		d := sd.Status.Database
		return d != nil && ok(d), fmt.Errorf("status.database %+v (%s: %s)", d, sd.Status.Phase, sd.Status.Message)
	})
	return sd
}

// checkAcked fails the test unless every acknowledged write is in db with
// its note: acknowledged means committed there or copied there.
func checkAcked(t *testing.T, pg *pgtest.Server, db string, acked []write) {
	t.Helper()
	rows := itemRows(t, pg, db)
	var missing []string
	for _, a := range acked {
		if note, ok := rows[a.id]; !ok || note != a.note {
			missing = append(missing, fmt.Sprintf("id %d %q acknowledged by %s at %s (found %q)",
				a.id, a.note, a.version, a.at.Format("15:04:05.000"), note))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged writes missing from %s, e.g.:\n%s", len(missing), len(acked), db,
			strings.Join(missing[:min(10, len(missing))], "\n"))
	}
}

// checkRefusals fails the test if any write got an answer other than 201,
// or a 503 from the site with SQLSTATE 25006 (read-only: frozen). (The
// site tries a write again when the freeze ended its session, 57P01.)
func checkRefusals(t *testing.T, res writes) {
	t.Helper()
	var bad []string
	for _, r := range res {
		if r.status == 201 || r.status == 503 && r.sqlstate == "25006" {
			continue
		}
		bad = append(bad, fmt.Sprintf("%s %s: status %d from %q sqlstate %q: %s",
			r.at.Format("15:04:05.000"), r.note, r.status, r.version, r.sqlstate, r.err))
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d writes failed other than by a clean refusal, e.g.:\n%s", len(bad), len(res),
			strings.Join(bad[:min(10, len(bad))], "\n"))
	}
}

// itemRows returns the rows of the items table of db, id -> note.
func itemRows(t *testing.T, pg *pgtest.Server, db string) map[int64]string {
	t.Helper()
	ctx := context.Background()
	conn, err := postgres.Connect(ctx, pg.Conn(db), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id, note FROM items")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var note string
		if err := rows.Scan(&id, &note); err != nil {
			t.Fatal(err)
		}
		out[id] = note
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func hasColumn(t *testing.T, pg *pgtest.Server, db, column string) bool {
	t.Helper()
	return queryInt(t, pg, db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = '"+column+"'") == 1
}
