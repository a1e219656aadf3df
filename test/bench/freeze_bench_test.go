package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// BenchmarkWriteFreeze measures the write freeze of a schema-changing
// release (Freeze, then Clone until the copy is complete and marked) for
// both clone methods, beside the raw copy of the same database measured
// in the same run: `pg_dump -Fd -j N` + `pg_restore -j N` into a new
// database, and a plain CREATE DATABASE ... TEMPLATE. Sizes come from
// BENCH_FREEZE_MB (comma-separated, default "200,1000"), jobs from
// BENCH_JOBS (default 2). A client stays connected to the source, as the
// live color's pods would be. Target (BENCH.md): window <= 1.2x raw.
//
//	BENCH_FREEZE_MB=50 go test ./test/bench -run '^$' -bench WriteFreeze -benchtime 1x
func BenchmarkWriteFreeze(b *testing.B) {
	sizes := envSizes("BENCH_FREEZE_MB", []int{200, 1000})
	jobs := envInt("BENCH_JOBS", 2)
	srv := startCopyServer(b)
	defer srv.Stop()
	fmt.Printf("\nwrite-freeze benchmark: PostgreSQL %d, jobs %d, CPUs %d, sizes %v MB\n", srv.Version, jobs, numCPU(), sizes)
	fmt.Printf("%-7s %7s %-9s %11s %9s %9s %7s %9s %15s\n", "size", "dbMB", "method", "rawS b/a", "windowS", "freezeMs", "ratio", "target", "disconnectedMs")
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%dMB", size), func(b *testing.B) {
			ctx := context.Background()
			admin, err := postgres.Connect(ctx, srv.Conn(""), "bench")
			if err != nil {
				b.Fatal(err)
			}
			defer admin.Close(ctx)
			src := fmt.Sprintf("freeze_src_%d", size)
			if err := generateDatabase(ctx, srv, admin, src, size); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = postgres.DropDatabase(ctx, admin, src) }()
			var dbBytes int64
			_ = admin.QueryRow(ctx, "SELECT pg_database_size($1)", src).Scan(&dbBytes)
			b.ResetTimer()
			ratios := map[dbrelease.Method][]float64{}
			for i := 0; i < b.N; i++ {
				benchFreezeRound(b, srv, admin, src, size, float64(dbBytes)/(1<<20), jobs, ratios)
			}
			for _, m := range []dbrelease.Method{dbrelease.Dump, dbrelease.Template} {
				r := slices.Sorted(slices.Values(ratios[m]))
				fmt.Printf("%-7s %-9s median window/raw %.3f over %d rounds %v\n", fmt.Sprintf("%dMB", size), m, r[len(r)/2], len(r), r)
			}
		})
	}
}

// startCopyServer starts a PostgreSQL server tuned for copying large
// databases (no checkpoint in the middle of a copy), with any settings of
// BENCH_PG_SETTINGS ("name=value;..."; log_autovacuum_min_duration=0 and
// log_lock_waits=on explain a slow copy) on top.
func startCopyServer(b *testing.B) *pgtest.Server {
	settings := map[string]string{
		"max_wal_size": "8GB", "checkpoint_timeout": "30min", "maintenance_work_mem": "256MB", "shared_buffers": "256MB",
		// The replicated cutover decodes the WAL (BenchmarkCutoverWindow).
		"wal_level": "logical",
	}
	for _, kv := range strings.Split(os.Getenv("BENCH_PG_SETTINGS"), ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	srv, err := pgtest.Start(pgtest.Options{Settings: settings})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// benchFreezeRound measures, for each method, the raw copy before and
// after the freeze window, each from a checkpoint, and compares the window
// with the mean of the two: shared machines drift within a run, and the
// bracket cancels the drift.
func benchFreezeRound(b *testing.B, srv *pgtest.Server, admin postgres.Querier, src string, sizeMB int, dbMB float64, jobs int, ratios map[dbrelease.Method][]float64) {
	ctx := context.Background()
	dir := b.TempDir()
	checkpoint := func() {
		if _, err := admin.Exec(ctx, "CHECKPOINT"); err != nil {
			b.Fatal(err)
		}
	}
	for _, m := range []dbrelease.Method{dbrelease.Dump, dbrelease.Template} {
		checkpoint()
		rawBefore := rawCopy(b, srv, admin, m, src, dir, jobs)
		checkpoint()
		to := src + "_" + strings.ToLower(string(m))
		client, err := postgres.Connect(ctx, srv.Conn(src), "bench-client")
		if err != nil {
			b.Fatal(err)
		}
		t := time.Now()
		if _, err := dbrelease.Freeze(ctx, srv.Conn(""), src); err != nil {
			b.Fatal(err)
		}
		freeze := time.Since(t)
		res, err := dbrelease.Clone(ctx, srv.Conn(""), dbrelease.CloneSpec{Method: m, From: src, To: to, Base: src,
			Revision: "bench", Jobs: jobs, ScratchDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		window := time.Since(t).Seconds()
		_ = client.Close(ctx)
		if _, err := dbrelease.DropCopy(ctx, srv.Conn(""), to); err != nil {
			b.Fatal(err)
		}
		if err := dbrelease.Unfreeze(ctx, srv.Conn(""), src); err != nil {
			b.Fatal(err)
		}
		checkpoint()
		rawAfter := rawCopy(b, srv, admin, m, src, dir, jobs)
		raw := (rawBefore + rawAfter) / 2
		ratio := window / raw
		ratios[m] = append(ratios[m], ratio)
		verdict := "ok"
		if ratio > 1.2 {
			verdict = "MISSED"
		}
		b.ReportMetric(window, string(m)+"-window-s")
		b.ReportMetric(ratio, string(m)+"-window/raw")
		fmt.Printf("%-7s %7.0f %-9s %5.2f/%-5.2f %9.2f %9d %7.3f %9s %15d\n", fmt.Sprintf("%dMB", sizeMB), dbMB, m, rawBefore, rawAfter,
			window, freeze.Milliseconds(), ratio, "<=1.2 "+verdict, res.Disconnected.Milliseconds())
	}
}

// rawCopy times the plain copy the method stands for and returns seconds:
// Dump is an empty database, pg_dump -Fd -j N and pg_restore -j N;
// Template is CREATE DATABASE ... TEMPLATE with nobody connected.
func rawCopy(b *testing.B, srv *pgtest.Server, admin postgres.Querier, m dbrelease.Method, src, dir string, jobs int) float64 {
	ctx := context.Background()
	rawDB, path := src+"_raw", filepath.Join(dir, "raw")
	t := time.Now()
	if m == dbrelease.Template {
		if err := postgres.CreateDatabase(ctx, admin, rawDB, "", postgres.CreateOptions{Template: src}); err != nil {
			b.Fatal(err)
		}
	} else {
		if err := postgres.CreateDatabase(ctx, admin, rawDB, "", postgres.CreateOptions{Template: "template0"}); err != nil {
			b.Fatal(err)
		}
		mustTool(b, srv.Conn(src), "pg_dump", "-Fd", "-j", strconv.Itoa(jobs), "--no-sync", "-f", path)
		mustTool(b, srv.Conn(rawDB), "pg_restore", "--exit-on-error", "-j", strconv.Itoa(jobs), "-d", rawDB, path)
	}
	took := time.Since(t).Seconds()
	_ = postgres.DropDatabase(ctx, admin, rawDB)
	_ = os.RemoveAll(path)
	return took
}

// envSizes reads a comma-separated list of positive sizes.
func envSizes(name string, def []int) []int {
	var sizes []int
	for _, f := range strings.Split(os.Getenv(name), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		return def
	}
	return sizes
}
