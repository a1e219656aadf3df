package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/internal/refresh"
	"github.com/understudy-dev/understudy/test/pgbrtest"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// BenchmarkRefreshPgBackRest compares, in one run, for a generated database
// of BENCH_DB_MB (default 1024) in a full pgBackRest backup of a production
// server (a second throwaway server archiving into a repository on disk):
//   - raw: the steps by hand, as a script: pgbackrest restore --db-include
//     into a directory, pg_ctl start -w (recovery to consistency), pg_dump
//     -Fd -Z0 -j N, pg_ctl stop, pg_restore -j N into an empty database on
//     the dev server; before and after the refresh (the ratio is against
//     their mean);
//   - refresh: the runner's whole refresh from the repository (info,
//     restore, recovery, dump, restore, ANALYZE, swap).
//
// Target (issue 30): the refresh within 1.2x of raw.
func BenchmarkRefreshPgBackRest(b *testing.B) {
	mb := envInt("BENCH_DB_MB", 1024)
	jobs := envInt("BENCH_JOBS", 2)
	ctx := context.Background()
	dev := benchPostgres(b)
	defer dev.Stop()
	repo, err := pgbrtest.New()
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Remove()
	settings := repo.ServerSettings()
	settings["max_wal_size"], settings["checkpoint_timeout"] = "8GB", "30min"
	prod, err := pgtest.Start(pgtest.Options{Settings: settings})
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Stop()
	if err := repo.Attach(prod); err != nil {
		b.Fatal(err)
	}
	padmin, err := postgres.Connect(ctx, prod.Conn(""), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer padmin.Close(ctx)
	if err := generateDatabase(ctx, prod, padmin, "bench_pgbr_src", mb); err != nil {
		b.Fatal(err)
	}
	t := time.Now()
	label, err := repo.Backup("full")
	if err != nil {
		b.Fatal(err)
	}
	backupS := time.Since(t).Seconds()
	admin, err := postgres.Connect(ctx, dev.Conn(""), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	fmt.Printf("\npgBackRest refresh benchmark: PostgreSQL %d, pgBackRest repository on local disk, jobs %d, database %d MB, CPUs %d, backup %s took %.1f s\n",
		dev.Version, jobs, mb, numCPU(), label, backupS)
	fmt.Printf("%13s %9s %8s\n", "rawS bef/aft", "refreshS", "ref/raw")
	for i := 0; i < b.N; i++ {
		rawBefore := rawPgBackRest(b, repo, dev, admin, jobs)
		scratch := openTempDir(b)
		o := refresh.Options{TargetDB: "bench_pgbr_dev", KeepPrevious: 0, Jobs: jobs, ScratchDir: scratch, Target: dev.Conn(""),
			PgBackRest: &refresh.PgBackRestOptions{Stanza: pgbrtest.Stanza, Database: "bench_pgbr_src", RepoPath: repo.Path, Role: pgtest.Superuser}}
		res := mustRefresh(b, o)
		rawAfter := rawPgBackRest(b, repo, dev, admin, jobs)
		rawS := (rawBefore + rawAfter) / 2
		refS := float64(res.DurationsMs["total"]) / 1000
		b.ReportMetric(rawS, "raw-s")
		b.ReportMetric(refS, "refresh-s")
		b.ReportMetric(refS/rawS, "refresh/raw")
		fmt.Printf("%13s %9.2f %8.3f\n", fmt.Sprintf("%.2f/%.2f", rawBefore, rawAfter), refS, refS/rawS)
		fmt.Printf("           steps of the refresh (ms): %v\n", res.DurationsMs)
		_ = postgres.DropDatabase(ctx, admin, "bench_pgbr_dev")
	}
}

// rawPgBackRestScript is what a person would type: restore the one
// database, let it recover (pg_ctl -w returns when it runs; without hot
// standby it takes connections once promoted), dump it, stop it.
const rawPgBackRestScript = `set -e
export PGBACKREST_REPO1_PATH="$REPO" PGBACKREST_STANZA=main PGBACKREST_CONFIG="$W/empty.conf" PGBACKREST_LOCK_PATH="$W" \
  PGBACKREST_LOG_PATH="$W" PGBACKREST_LOG_LEVEL_FILE=off PGBACKREST_LOG_LEVEL_CONSOLE=warn
touch "$W/empty.conf"
pgbackrest restore --pg1-path="$W/data" --db-include="$DB" --type=immediate --target-action=promote
"$BIN/pg_ctl" -D "$W/data" -l "$W/log" -w -t 3600 -o "-c listen_addresses= -c unix_socket_directories=$W -c port=5433 -c hot_standby=off -c archive_mode=off" start
until psql -h "$W" -p 5433 -U "$ROLE" -d "$DB" -Atc "SELECT NOT pg_is_in_recovery()" 2>/dev/null | grep -q t; do sleep 0.1; done
pg_dump -h "$W" -p 5433 -U "$ROLE" -Fd -Z0 -j "$JOBS" -f "$W/dump" "$DB"
"$BIN/pg_ctl" -D "$W/data" -m immediate stop
`

// rawPgBackRest runs the by-hand steps and pg_restore -j into an empty
// database of the dev server, and returns the seconds it took.
func rawPgBackRest(b *testing.B, repo *pgbrtest.Repo, dev *pgtest.Server, admin postgres.Querier, jobs int) float64 {
	ctx := context.Background()
	w := openTempDir(b)
	cmd := exec.Command("bash", "-c", rawPgBackRestScript)
	cmd.Env = append(os.Environ(), "REPO="+repo.Path, "W="+w, "DB=bench_pgbr_src", "ROLE="+pgtest.Superuser,
		"JOBS="+strconv.Itoa(jobs), "BIN="+postgres.NewestBinDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: postgresUser(b)}
	t := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("the raw steps: %v\n%s", err, out)
	}
	const base = "bench_pgbr_raw"
	if err := postgres.CreateDatabase(ctx, admin, base, "", postgres.CreateOptions{Template: "template0"}); err != nil {
		b.Fatal(err)
	}
	mustTool(b, dev.Conn(base), "pg_restore", "--no-owner", "-j", strconv.Itoa(jobs), "-d", base, filepath.Join(w, "dump"))
	s := time.Since(t).Seconds()
	_ = postgres.DropDatabase(ctx, admin, base)
	return s
}

// openTempDir is a temporary directory the postgres OS user may write to.
func openTempDir(b *testing.B) string {
	dir, err := os.MkdirTemp("", "bench-pgbr-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred := postgresUser(b); cred != nil {
		_ = os.Chown(dir, int(cred.Uid), int(cred.Gid))
	}
	return dir
}

// postgresUser is the OS user PostgreSQL runs as when the benchmark runs
// as root; nil otherwise.
func postgresUser(b *testing.B) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		b.Fatal("running as root and there is no postgres OS user: run hack/install-deps.sh")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
