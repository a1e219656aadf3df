package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/internal/refresh"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// BenchmarkDatabaseRefresh compares, in one run and on one throwaway
// server, a plain `pg_restore -j N` of a custom-format dump into an empty
// database with the refresh runner's whole refresh of the same dump
// (side database, restore, ANALYZE, swap, retention), for a generated
// database of BENCH_DB_MB (default 1024) and a tenth of it. Targets
// (BENCH.md): refresh <= 1.10x the plain restore, target unavailable < 1 s.
func BenchmarkDatabaseRefresh(b *testing.B) {
	mb := envInt("BENCH_DB_MB", 1024)
	jobs := envInt("BENCH_JOBS", 2)
	srv := benchPostgres(b)
	defer srv.Stop()
	fmt.Printf("\nrefresh benchmark: PostgreSQL %d, jobs %d, GOMAXPROCS-visible CPUs %d\n", srv.Version, jobs, numCPU())
	fmt.Printf("%-8s %9s %9s %11s %12s %12s %8s %13s\n", "size", "dbMB", "dumpS", "pgRestoreS", "refresh1stS", "refreshS", "ratio", "unavailableMs")
	for _, size := range []int{mb, max(mb/10, 5)} {
		b.Run(fmt.Sprintf("%dMB", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchRefreshSize(b, srv, size, jobs)
			}
		})
	}
}

func benchRefreshSize(b *testing.B, srv *pgtest.Server, sizeMB, jobs int) {
	ctx := context.Background()
	admin, err := postgres.Connect(ctx, srv.Conn(""), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	src, base, target := fmt.Sprintf("bench_src_%d", sizeMB), fmt.Sprintf("bench_base_%d", sizeMB), fmt.Sprintf("bench_dev_%d", sizeMB)
	if err := generateDatabase(ctx, srv, admin, src, sizeMB); err != nil {
		b.Fatal(err)
	}
	var dbBytes int64
	_ = admin.QueryRow(ctx, "SELECT pg_database_size($1)", src).Scan(&dbBytes)

	dir := b.TempDir()
	dumpPath := filepath.Join(dir, "nightly.dump")
	t := time.Now()
	mustTool(b, srv.Conn(src), "pg_dump", "-Fc", "-f", dumpPath)
	dumpS := time.Since(t).Seconds()

	// Baseline: plain pg_restore -j N into an empty database.
	if err := postgres.CreateDatabase(ctx, admin, base, "", postgres.CreateOptions{Template: "template0"}); err != nil {
		b.Fatal(err)
	}
	t = time.Now()
	mustTool(b, srv.Conn(base), "pg_restore", "--no-owner", "-j", strconv.Itoa(jobs), "-d", base, dumpPath)
	restoreS := time.Since(t).Seconds()
	_ = postgres.DropDatabase(ctx, admin, base)

	o := refresh.Options{TargetDB: target, KeepPrevious: 1, Jobs: jobs, BackupDir: dir, Pattern: "*.dump",
		ScratchDir: dir, Target: srv.Conn("")}
	first := refresh.Run(ctx, o)
	if first.Result != refresh.Succeeded {
		b.Fatalf("first refresh failed: %s", first.Error)
	}
	// The second refresh swaps out a target that has a client connected.
	client, err := postgres.Connect(ctx, srv.Conn(target), "bench-client")
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close(ctx)
	second := refresh.Run(ctx, o)
	if second.Result != refresh.Succeeded {
		b.Fatalf("second refresh failed: %s", second.Error)
	}
	firstS := float64(first.DurationsMs["total"]) / 1000
	secondS := float64(second.DurationsMs["total"]) / 1000
	ratio := secondS / restoreS
	b.ReportMetric(restoreS, "pgRestore-s")
	b.ReportMetric(secondS, "refresh-s")
	b.ReportMetric(ratio, "refresh/pgRestore")
	b.ReportMetric(float64(second.UnavailableMs), "unavailable-ms")
	fmt.Printf("%-8s %9.0f %9.1f %11.2f %12.2f %12.2f %8.3f %13d\n", fmt.Sprintf("%dMB", sizeMB), float64(dbBytes)/(1<<20),
		dumpS, restoreS, firstS, secondS, ratio, second.UnavailableMs)
	fmt.Printf("         steps of the measured refresh (ms): %v\n", second.DurationsMs)

	for _, db := range []string{src, target, second.Previous} {
		_ = postgres.DropDatabase(ctx, admin, db)
	}
}

// benchPostgres starts a server tuned for bulk loads (few checkpoints).
func benchPostgres(b *testing.B) *pgtest.Server {
	srv, err := pgtest.Start(pgtest.Options{Settings: map[string]string{
		"max_wal_size": "8GB", "checkpoint_timeout": "30min", "maintenance_work_mem": "256MB", "shared_buffers": "256MB",
	}})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// generateDatabase builds about sizeMB of data: three large tables with a
// primary key and a secondary index (most of the bytes) and 200 small
// tables, as an application database looks.
func generateDatabase(ctx context.Context, srv *pgtest.Server, admin postgres.Querier, name string, sizeMB int) error {
	if err := postgres.CreateDatabase(ctx, admin, name, "", postgres.CreateOptions{}); err != nil {
		return err
	}
	c, err := postgres.Connect(ctx, srv.Conn(name), "bench")
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	// About 250 bytes a row with its two index entries; 95% in large tables.
	rowsPerTable := int64(sizeMB) * (1 << 20) * 95 / 100 / 250 / 3
	for i := 1; i <= 3; i++ {
		sql := fmt.Sprintf(`CREATE TABLE big_%d AS SELECT g AS id, md5(g::text) AS h, repeat(md5((g * 7)::text), 3) AS pad,
			timestamptz '2026-01-01' + g * interval '1 second' AS ts FROM generate_series(1, %d) g;
			ALTER TABLE big_%d ADD PRIMARY KEY (id); CREATE INDEX ON big_%d (h);`, i, rowsPerTable, i, i)
		if _, err := c.Exec(ctx, sql); err != nil {
			return fmt.Errorf("cannot generate big_%d: %w", i, err)
		}
	}
	_, err = c.Exec(ctx, `DO $$ BEGIN FOR k IN 1..200 LOOP
		EXECUTE format('CREATE TABLE small_%s (id int PRIMARY KEY, name text, val numeric)', k);
		EXECUTE format('INSERT INTO small_%s SELECT g, ''item '' || g, g * 1.5 FROM generate_series(1, 500) g', k);
		END LOOP; END $$`)
	if err != nil {
		return fmt.Errorf("cannot generate the small tables: %w", err)
	}
	_, err = c.Exec(ctx, "VACUUM ANALYZE")
	return err
}

func mustTool(b *testing.B, c postgres.Conn, tool string, args ...string) {
	b.Helper()
	cmd, err := postgres.Command(context.Background(), tool, c, os.Environ(), "bench", args...)
	if err != nil {
		b.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", tool, err, out)
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func numCPU() int {
	n, _ := strconv.Atoi(os.Getenv("GOMAXPROCS"))
	if n > 0 {
		return n
	}
	return runtimeNumCPU()
}

var runtimeNumCPU = runtime.NumCPU
