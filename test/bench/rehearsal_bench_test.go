package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
	"github.com/understudy-dev/understudy/test/testenv"
)

// BenchmarkRehearsedRelease measures the write-unavailability window of a
// schema-changing release with a rehearsal, as a client writing without
// pause to the active color's database sees it: from its first refused
// write to its first acknowledged write on the new side. The manager runs
// as a process against a real API server and PostgreSQL; this process
// plays the Deployment controller (a candidate is available as soon as it
// is asked for) and the migration Jobs (it runs the migration SQL on the
// copy the Job names, then marks it complete). Approval is given
// BENCH_APPROVAL_DELAYS_S seconds (default "10,60") after the rehearsed
// candidate awaits promotion, for databases of BENCH_REHEARSAL_MB
// (default "200,1000"). The baseline, measured right after each release:
// a raw copy (pg_dump -Fd -j N, pg_restore -j N into a new database) of
// the side the release left frozen, which holds exactly the data its
// cutover copied, and the same migration on it, under the client load of a
// cutover (the same writer, refused by a frozen database without pause).
// Each delay runs BENCH_ROUNDS times (default 3), the delays alternating;
// a copy of the same data takes 15% more or less from one run to the next
// on a shared machine, so the verdict is on the medians. Target (BENCH.md):
// window <= 1.2 x (raw copy + migration) + the candidate's start, the same
// for every delay.
//
//	BENCH_REHEARSAL_MB=50 BENCH_APPROVAL_DELAYS_S=2,5 BENCH_ROUNDS=1 go test ./test/bench -run '^$' -bench RehearsedRelease -benchtime 1x
func BenchmarkRehearsedRelease(b *testing.B) {
	sizes := envSizes("BENCH_REHEARSAL_MB", []int{200, 1000})
	delays := envSizes("BENCH_APPROVAL_DELAYS_S", []int{10, 60})
	jobs := envInt("BENCH_JOBS", 2)
	rounds := envInt("BENCH_ROUNDS", 3)
	rig := startReleaseRig(b)
	defer rig.stop()
	srv := rig.srv
	fmt.Printf("\nrehearsed-release benchmark: PostgreSQL %d, jobs %d, CPUs %d, sizes %v MB, approval %v s after AwaitingPromotion, %d rounds, "+
		"cloneMethod Dump, migration: ADD COLUMN + CREATE INDEX on a third of the data\n", srv.Version, jobs, numCPU(), sizes, delays, rounds)
	fmt.Printf("%-7s %6s %7s %8s %8s %8s %9s %9s %8s %9s %s\n", "size", "delayS", "copyMB", "copyS", "migrS", "windowS", "freezeS", "startS", "ratio*", "targetS", "verdict")
	fmt.Println("ratio* = (window - start) / (raw copy + migration), at most 1.2 on target")
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%dMB", size), func(b *testing.B) {
			r := rig.run(b, fmt.Sprintf("rh%d", size), jobs)
			r.setUp(size)
			rows := map[int][]rehearsalRow{}
			for range rounds { // the delays alternate, so drift of the machine touches each alike
				for _, delay := range delays {
					row := r.measure(size, delay)
					rows[delay] = append(rows[delay], row)
					row.print()
				}
			}
			var windows, ratios []float64
			for _, delay := range delays {
				m := summarize(rows[delay])
				fmt.Printf("%-7s %6d median of %d: window %.2f s, (window - start) / (raw copy + migration) %.3f of %v <= 1.2 %s\n",
					fmt.Sprintf("%dMB", size), delay, len(rows[delay]), m.window, m.ratio, m.ratios, verdict(m.ratio <= 1.2))
				b.ReportMetric(m.window, fmt.Sprintf("window-s-delay%ds", delay))
				b.ReportMetric(m.ratio, fmt.Sprintf("ratio-delay%ds", delay))
				windows, ratios = append(windows, m.window), append(ratios, m.ratio)
			}
			fmt.Printf("%-7s across approval delays %v s: median windows %.2f s (the data written while waiting is copied too), median ratios %.3f\n",
				fmt.Sprintf("%dMB", size), delays, windows, ratios)
		})
	}
}

// releaseRig is what the release benchmarks run on: a PostgreSQL server
// (wal_level=logical), a real API server with a namespace and the admin
// Secret, the players of the Deployment controller and of the migration
// Jobs, and the manager as a process.
type releaseRig struct {
	ctx        context.Context
	cancel     context.CancelFunc
	srv        *pgtest.Server
	env        *testenv.Env
	watcher    client.WithWatch
	migrations *migrationPlayer
	mgr        *managerProcess
	ns         string
}

func startReleaseRig(b *testing.B) *releaseRig {
	ctrllog.SetLogger(logr.Discard()) // envtest logs through controller-runtime; the figures are the output
	r := &releaseRig{ns: "bench"}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.srv = startCopyServer(b)
	manager := buildManager(b)
	var err error
	if r.env, err = testenv.Start(); err != nil {
		b.Fatal(err)
	}
	for _, obj := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-admin", Namespace: r.ns}, StringData: map[string]string{
			"host": r.srv.Host, "port": strconv.Itoa(r.srv.Port), "username": r.srv.User, "password": r.srv.Password, "sslmode": "disable"}}} {
		if err := r.env.Client.Create(r.ctx, obj); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := startPlayer(r.ctx, r.env, r.ns); err != nil {
		b.Fatal(err)
	}
	r.migrations = startMigrationPlayer(r.ctx, b, r.env.Client, r.srv, r.ns)
	if r.watcher, err = client.NewWithWatch(r.env.Config, client.Options{Scheme: r.env.Client.Scheme()}); err != nil {
		b.Fatal(err)
	}
	if r.mgr, err = startManager(b, manager, r.env.KubeConfig); err != nil {
		b.Fatal(err)
	}
	return r
}

func (r *releaseRig) run(b *testing.B, name string, jobs int) *rehearsalRun {
	return &rehearsalRun{b: b, ctx: r.ctx, c: r.watcher, srv: r.srv, ns: r.ns, name: name, jobs: jobs, migrations: r.migrations}
}

func (r *releaseRig) stop() {
	r.mgr.stop()
	r.cancel()
	_ = r.env.Stop()
	r.srv.Stop()
}

// rehearsalRow is one release and its baseline, in seconds.
type rehearsalRow struct {
	size, delay                             int
	copiedMB                                int64
	rawCopy, rawMigr, window, freeze, start float64
}

// measure releases once with approval after delay, then takes the baseline
// on the side the release left frozen.
func (r *rehearsalRun) measure(size, delay int) rehearsalRow {
	res := r.release(time.Duration(delay) * time.Second)
	rawCopy, rawMigr := r.rawCopyAndMigrate(res.frozen)
	copied, err := r.srv.QueryInt(r.ctx, "", "SELECT pg_database_size('"+res.frozen+"')")
	if err != nil {
		r.b.Fatal(err)
	}
	return rehearsalRow{size: size, delay: delay, copiedMB: copied >> 20, rawCopy: rawCopy, rawMigr: rawMigr,
		window: res.window, freeze: res.freeze, start: res.start}
}

// ratio is the round's (window - start) / (raw copy + migration): at most
// 1.2 meets the target.
func (w rehearsalRow) ratio() float64 { return (w.window - w.start) / (w.rawCopy + w.rawMigr) }

func (w rehearsalRow) print() {
	target := 1.2*(w.rawCopy+w.rawMigr) + w.start
	fmt.Printf("%-7s %6d %7d %8.2f %8.2f %8.2f %9.2f %9.2f %8.3f %9.2f %s\n", fmt.Sprintf("%dMB", w.size), w.delay, w.copiedMB, w.rawCopy, w.rawMigr,
		w.window, w.freeze, w.start, w.ratio(), target, "<= target "+verdict(w.window <= target))
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

// rehearsalSummary is the medians of a delay's rounds. The rounds are not
// alike (each copies what the writer added before it), so the verdict is
// on the median of the rounds' ratios, each against its own baseline.
type rehearsalSummary struct {
	window, ratio float64
	ratios        []float64
}

func summarize(rows []rehearsalRow) rehearsalSummary {
	var s rehearsalSummary
	var windows []float64
	for _, w := range rows {
		windows, s.ratios = append(windows, w.window), append(s.ratios, math.Round(w.ratio()*1000)/1000)
	}
	s.window, s.ratio = median(windows), median(s.ratios)
	return s
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

type rehearsalRun struct {
	b          *testing.B
	ctx        context.Context
	c          client.WithWatch
	srv        *pgtest.Server
	ns, name   string
	jobs       int
	schema     int
	migrations *migrationPlayer
}

// rehearsalResult is one release: the window the writer saw, the freeze
// the site reported, and the candidate's start (from the final copy's
// migration done to the writer's first write acknowledged on it), in
// seconds; and the database it left frozen.
type rehearsalResult struct {
	window, freeze, start float64
	frozen                string
}

// setUp makes the site's database (adopted: named exactly like the base)
// and the site, healthy on blue.
func (r *rehearsalRun) setUp(sizeMB int) {
	admin, err := postgres.Connect(r.ctx, r.srv.Conn(""), "bench")
	if err != nil {
		r.b.Fatal(err)
	}
	defer admin.Close(r.ctx)
	if err := generateDatabase(r.ctx, r.srv, admin, r.name, sizeMB); err != nil {
		r.b.Fatal(err)
	}
	if err := r.srv.Exec(r.ctx, r.name, "CREATE TABLE items (id bigserial PRIMARY KEY, note text)"); err != nil {
		r.b.Fatal(err)
	}
	r.schema = 1
	sd := &v1.SiteDeployment{ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: r.ns}, Spec: v1.SiteDeploymentSpec{
		Replicas: ptr.To[int32](2),
		Template: benchTemplate("1"),
		Service:  v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80}}},
		Strategy: v1.StrategySpec{AutoPromote: ptr.To(false), ScaleDownDelay: &metav1.Duration{Duration: time.Second}},
		Database: &v1.DatabaseSpec{ConnectionSecretRef: v1.SecretReference{Name: "db-admin"}, Name: r.name, SchemaRevision: "1",
			CopyTimeout: &metav1.Duration{Duration: time.Hour},
			Migration:   &v1.MigrationSpec{Template: benchTemplate("migrate"), Timeout: &metav1.Duration{Duration: time.Hour}}},
	}}
	if err := r.c.Create(r.ctx, sd); err != nil {
		r.b.Fatal(err)
	}
	r.waitSite("healthy", time.Minute, func(sd *v1.SiteDeployment) bool { return sd.Status.Phase == v1.PhaseHealthy })
}

func benchTemplate(version string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "bench:" + version}}}}
}

// release releases the next schema revision, approves it delay after it
// awaits promotion, and measures the window a continuous writer saw.
func (r *rehearsalRun) release(delay time.Duration) rehearsalResult {
	w := startActiveWriter(r.ctx, r.b, r.c, r.srv, r.ns, r.name)
	defer w.stop()
	r.schema++
	schema := strconv.Itoa(r.schema)
	updateSite(r.b, r.ctx, r.c, r.ns, r.name, func(sd *v1.SiteDeployment) {
		sd.Spec.Template = benchTemplate(schema)
		sd.Spec.Database.SchemaRevision = schema
	})
	sd := r.waitSite("awaiting promotion", time.Hour, func(sd *v1.SiteDeployment) bool {
		c := sd.Status.Database.Candidate
		return c != nil && c.SchemaRevision == schema && c.Stage == v1.StageAwaitingPromotion
	})
	select {
	case <-time.After(delay): // the person approving
	case <-r.ctx.Done():
	}
	rev := sd.Status.PreviewRevision
	if os.Getenv("BENCH_TRACE") != "" {
		go r.trace(time.Now())
	}
	w.approved()
	updateSite(r.b, r.ctx, r.c, r.ns, r.name, func(sd *v1.SiteDeployment) { sd.Annotations = map[string]string{v1.AnnotationPromote: rev} })
	sd = r.waitSite("switched", time.Hour, func(sd *v1.SiteDeployment) bool {
		return sd.Status.ActiveRevision == rev && sd.Status.Database.Candidate == nil && sd.Status.Database.LastFreezeDuration != nil
	})
	refused, acked := w.window(r.b)
	migrated := r.migrations.doneAt(sd.Status.Database.ActiveName)
	return rehearsalResult{window: acked.Sub(refused).Seconds(), freeze: sd.Status.Database.LastFreezeDuration.Seconds(),
		start: acked.Sub(migrated).Seconds(), frozen: sd.Status.Database.PreviousName}
}

func (r *rehearsalRun) waitSite(what string, timeout time.Duration, ok func(*v1.SiteDeployment) bool) *v1.SiteDeployment {
	sd := &v1.SiteDeployment{}
	waitForWithin(r.b, r.name+" "+what, timeout, func() bool {
		return r.c.Get(r.ctx, keyOf(r.ns, r.name), sd) == nil && sd.Status.Database != nil && ok(sd)
	})
	return sd
}

// rawCopyAndMigrate times a plain copy of src and the migration on it,
// from a checkpoint, in seconds, under the client load of a cutover: a
// writer refused (a frozen database) without pause.
func (r *rehearsalRun) rawCopyAndMigrate(src string) (copySecs, migrateSecs float64) {
	refusing := r.name + "_refusing"
	if err := r.srv.Exec(r.ctx, "", "DROP DATABASE IF EXISTS "+refusing, "CREATE DATABASE "+refusing); err != nil {
		r.b.Fatal(err)
	}
	if err := r.srv.Exec(r.ctx, refusing, "CREATE TABLE items (id bigserial PRIMARY KEY, note text)"); err != nil {
		r.b.Fatal(err)
	}
	if _, err := dbrelease.Freeze(r.ctx, r.srv.Conn(""), refusing); err != nil {
		r.b.Fatal(err)
	}
	w := startWriter(r.ctx, r.b, r.srv, refusing, nil)
	defer w.stop()
	raw := r.name + "_raw"
	path := filepath.Join(r.b.TempDir(), "raw")
	if err := r.srv.Exec(r.ctx, "", "CHECKPOINT", "CREATE DATABASE "+raw+" TEMPLATE template0"); err != nil {
		r.b.Fatal(err)
	}
	defer func() { _ = r.srv.Exec(r.ctx, "", "DROP DATABASE IF EXISTS "+raw) }()
	t := time.Now()
	mustTool(r.b, r.srv.Conn(src), "pg_dump", "-Fd", "-j", strconv.Itoa(r.jobs), "--no-sync", "-f", path)
	mustTool(r.b, r.srv.Conn(raw), "pg_restore", "--exit-on-error", "-j", strconv.Itoa(r.jobs), "-d", raw, path)
	copySecs = time.Since(t).Seconds()
	_ = os.RemoveAll(path)
	t = time.Now()
	if err := r.srv.Exec(r.ctx, raw, benchMigration("raw")...); err != nil {
		r.b.Fatal(err)
	}
	return copySecs, time.Since(t).Seconds()
}

// benchMigration is what a migration Job of the benchmark runs: a column
// (no rewrite) and an index over a third of the data.
func benchMigration(schema string) []string {
	return []string{"ALTER TABLE big_1 ADD COLUMN p_" + schema + " int NOT NULL DEFAULT 0", "CREATE INDEX ix_" + schema + " ON big_1 (ts, h)"}
}

func updateSite(b *testing.B, ctx context.Context, c client.Client, ns, name string, f func(*v1.SiteDeployment)) {
	waitFor(b, "update of "+name, func() bool {
		sd := &v1.SiteDeployment{}
		if c.Get(ctx, keyOf(ns, name), sd) != nil {
			return false
		}
		f(sd)
		return c.Update(ctx, sd) == nil
	})
}

func (r *rehearsalRun) trace(start time.Time) {
	last := ""
	for time.Since(start) < 2*time.Minute {
		sd := &v1.SiteDeployment{}
		if r.c.Get(r.ctx, keyOf(r.ns, r.name), sd) == nil && sd.Status.Database != nil {
			st := sd.Status.Phase + " " + v1.SiteDeploymentPhase(sd.Status.Message)
			if c := sd.Status.Database.Candidate; c != nil {
				st = v1.SiteDeploymentPhase(string(c.Stage)+"/"+string(c.Step)+" ") + st
			}
			if string(st) != last {
				fmt.Printf("  %6.2fs %s\n", time.Since(start).Seconds(), st)
				last = string(st)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
