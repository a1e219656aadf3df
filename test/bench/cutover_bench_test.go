package bench

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// BenchmarkCutoverWindow measures the write-unavailability window of a
// rehearsed schema-changing release for each cutover method, as a client
// writing without pause to the active color's database sees it (from its
// first refused write to its first acknowledged write on the new side),
// for databases of BENCH_CUTOVER_MB (default "200,1000,5000"), each
// released once per method in BENCH_CUTOVERS (default "Copy,Replicated")
// with approval 5 s after the rehearsal passed, BENCH_CUTOVER_ROUNDS times
// (default 1). The manager runs as a process against a real API server
// and PostgreSQL (wal_level=logical), as in BenchmarkRehearsedRelease.
// Baseline, measured right after each release: a raw copy (pg_dump -Fd -j
// N | pg_restore -j N) of the side the release left frozen. Target (issue
// 29): the Replicated window <= 2 s at every size.
//
//	BENCH_CUTOVER_MB=100 go test ./test/bench -run '^$' -bench CutoverWindow -benchtime 1x
func BenchmarkCutoverWindow(b *testing.B) {
	sizes := envSizes("BENCH_CUTOVER_MB", []int{200, 1000, 5000})
	methods := envList("BENCH_CUTOVERS", []string{string(v1.CutoverCopy), string(v1.CutoverReplicated)})
	rounds := envInt("BENCH_CUTOVER_ROUNDS", 1)
	jobs := envInt("BENCH_JOBS", 2)
	rig := startReleaseRig(b)
	defer rig.stop()
	ctx, srv := rig.ctx, rig.srv
	fmt.Printf("\ncutover benchmark: PostgreSQL %d (wal_level=logical), jobs %d, CPUs %d, sizes %v MB, methods %v, %d rounds, a writer without pause, "+
		"migration: ADD COLUMN + CREATE INDEX on a third of the data\n", srv.Version, jobs, numCPU(), sizes, methods, rounds)
	fmt.Printf("%-7s %-10s %7s %9s %9s %9s %10s %s\n", "size", "cutover", "copyMB", "rawCopyS", "windowS", "freezeS", "window/raw", "verdict (Replicated: window <= 2 s)")
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%dMB", size), func(b *testing.B) {
			r := rig.run(b, fmt.Sprintf("co%d", size), jobs)
			r.setUp(size)
			for range rounds {
				for _, method := range methods {
					updateSite(b, ctx, rig.watcher, rig.ns, r.name, func(sd *v1.SiteDeployment) {
						sd.Spec.Database.Cutover = &v1.CutoverSpec{Method: v1.CutoverMethod(method), OnUnsupported: v1.FallbackFail}
					})
					res := r.release(5 * time.Second)
					rawCopy, _ := r.rawCopyAndMigrate(res.frozen)
					copied, err := srv.QueryInt(ctx, "", "SELECT pg_database_size('"+res.frozen+"')")
					if err != nil {
						b.Fatal(err)
					}
					ok := "-"
					if method == string(v1.CutoverReplicated) {
						ok = verdict(res.window <= 2)
					}
					fmt.Printf("%-7s %-10s %7d %9.2f %9.2f %9.2f %10.3f %s\n", fmt.Sprintf("%dMB", size), method, copied>>20, rawCopy,
						res.window, res.freeze, res.window/rawCopy, ok)
					b.ReportMetric(res.window, "window-s-"+method)
				}
			}
		})
	}
}

// envList reads a comma-separated list, def when unset.
func envList(name string, def []string) []string {
	var out []string
	for _, f := range strings.Split(os.Getenv(name), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}
