package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/internal/refresh"
	"github.com/understudy-dev/understudy/test/pgtest"
	"github.com/understudy-dev/understudy/test/s3test"
)

// BenchmarkRefreshS3 compares, in one run, for a generated database of
// BENCH_DB_MB (default 1024) dumped as custom (-Fc) and as directory
// (-Fd, stored as a tar object), three ways to get it into dev:
//   - raw: the steps by hand: one streamed GET of the object to disk (and
//     `tar -x` for the directory dump), then `pg_restore -j N` into an
//     empty database, before and after the refreshes (the ratio is
//     against their mean);
//   - volume: the runner's whole refresh from the same file on a volume
//     (today's path);
//   - s3: the runner's whole refresh from the object in a SeaweedFS bucket
//     on loopback (parallel ranged download, size and checksum check, the
//     backup checks, restore, ANALYZE, swap).
//
// Target (issue 30): s3 within 1.2x of raw.
func BenchmarkRefreshS3(b *testing.B) {
	mb := envInt("BENCH_DB_MB", 1024)
	jobs := envInt("BENCH_JOBS", 2)
	srv := benchPostgres(b)
	defer srv.Stop()
	store, err := s3test.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer store.Stop()
	ctx := context.Background()
	admin, err := postgres.Connect(ctx, srv.Conn(""), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	if err := generateDatabase(ctx, srv, admin, "bench_s3_src", mb); err != nil {
		b.Fatal(err)
	}
	// Per format: the volume today's path reads (a dump file, or a dump
	// directory) and the object uploaded (the file, or a tar of the directory).
	dir := b.TempDir()
	volumes := map[string]string{"custom": filepath.Join(dir, "custom"), "directory": filepath.Join(dir, "directory")}
	objects := map[string]string{"custom": filepath.Join(volumes["custom"], "nightly.dump"), "directory": filepath.Join(dir, "nightly.tar")}
	for _, v := range volumes {
		_ = os.MkdirAll(v, 0o755)
	}
	mustTool(b, srv.Conn("bench_s3_src"), "pg_dump", "-Fc", "-f", objects["custom"])
	dumpDir := filepath.Join(volumes["directory"], "nightly.dir")
	mustTool(b, srv.Conn("bench_s3_src"), "pg_dump", "-Fd", "-j", strconv.Itoa(jobs), "-f", dumpDir)
	mustRun(b, "tar", "-cf", objects["directory"], "-C", dumpDir, ".")
	if err := store.CreateBucket(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("\nS3 refresh benchmark: PostgreSQL %d, SeaweedFS on loopback, jobs %d, database %d MB, CPUs %d\n", srv.Version, jobs, mb, numCPU())
	fmt.Printf("%-10s %8s %9s %13s %8s %8s %8s %10s\n", "format", "objectMB", "uploadS", "rawS bef/aft", "volumeS", "s3S", "s3/raw", "s3/volume")
	for _, format := range []string{"custom", "directory"} {
		b.Run(format, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchS3Format(b, srv, store, admin, format, volumes[format], objects[format], jobs)
			}
		})
	}
	_ = postgres.DropDatabase(ctx, admin, "bench_s3_src")
}

func benchS3Format(b *testing.B, srv *pgtest.Server, store *s3test.Server, admin postgres.Querier, format, volume, path string, jobs int) {
	ctx := context.Background()
	key := "nightly/" + filepath.Base(path)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	t := time.Now()
	if err := store.PutFile(ctx, "bench", key, path); err != nil {
		b.Fatal(err)
	}
	uploadS := time.Since(t).Seconds()

	// Raw before and after the refreshes, as the write-freeze benchmark
	// does: the server's state (WAL, cache) drifts over one run.
	rawBefore := rawS3Restore(b, srv, store, admin, key, format, jobs)
	target := "bench_s3_dev_" + format
	vol := refresh.Options{TargetDB: target, KeepPrevious: 0, Jobs: jobs, BackupDir: volume, Pattern: "nightly.*",
		ScratchDir: b.TempDir(), Target: srv.Conn("")}
	mustRefresh(b, vol) // the first refresh creates dev; the measured ones replace it
	volRes := mustRefresh(b, vol)
	fromS3 := vol
	fromS3.BackupDir = ""
	fromS3.S3 = &refresh.S3Options{Endpoint: store.Endpoint, Region: store.Region, Bucket: "bench", Prefix: "nightly/", PathStyle: true,
		AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey}
	s3res := mustRefresh(b, fromS3)
	rawAfter := rawS3Restore(b, srv, store, admin, key, format, jobs)
	rawS := (rawBefore + rawAfter) / 2

	volumeS, s3S := float64(volRes.DurationsMs["total"])/1000, float64(s3res.DurationsMs["total"])/1000
	b.ReportMetric(rawS, "raw-s")
	b.ReportMetric(s3S, "s3-s")
	b.ReportMetric(s3S/rawS, "s3/raw")
	b.ReportMetric(s3S/volumeS, "s3/volume")
	fmt.Printf("%-10s %8.0f %9.1f %13s %8.2f %8.2f %8.3f %10.3f\n", format, float64(info.Size())/(1<<20), uploadS,
		fmt.Sprintf("%.2f/%.2f", rawBefore, rawAfter), volumeS, s3S, s3S/rawS, s3S/volumeS)
	fmt.Printf("           steps of the s3 refresh (ms): %v\n", s3res.DurationsMs)
	_ = postgres.DropDatabase(ctx, admin, target)
}

// rawS3Restore is the by-hand baseline: GET the object to disk in one
// stream (unpack a tar), pg_restore -j into an empty database.
func rawS3Restore(b *testing.B, srv *pgtest.Server, store *s3test.Server, admin postgres.Querier, key, format string, jobs int) float64 {
	ctx := context.Background()
	dir := b.TempDir()
	base := "bench_s3_raw_" + format
	t := time.Now()
	out, err := store.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(key)})
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, "object")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	_, err = io.Copy(f, out.Body)
	_ = out.Body.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	if format == "directory" {
		unpacked := filepath.Join(dir, "dump")
		_ = os.Mkdir(unpacked, 0o700)
		mustRun(b, "tar", "-xf", file, "-C", unpacked)
		_ = os.Remove(file)
		file = unpacked
	}
	if err := postgres.CreateDatabase(ctx, admin, base, "", postgres.CreateOptions{Template: "template0"}); err != nil {
		b.Fatal(err)
	}
	mustTool(b, srv.Conn(base), "pg_restore", "--no-owner", "-j", strconv.Itoa(jobs), "-d", base, file)
	s := time.Since(t).Seconds()
	_ = postgres.DropDatabase(ctx, admin, base)
	return s
}

func mustRefresh(b *testing.B, o refresh.Options) refresh.Result {
	b.Helper()
	res := refresh.Run(context.Background(), o)
	if res.Result != refresh.Succeeded {
		b.Fatalf("refresh of %s failed: %s", o.TargetDB, res.Error)
	}
	return res
}

func mustRun(b *testing.B, name string, args ...string) {
	b.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, out)
	}
}
