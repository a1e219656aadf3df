package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgbrtest"
	"github.com/understudy-dev/understudy/test/pgtest"
	"github.com/understudy-dev/understudy/test/poll"
)

// production is a second server whose WAL is archived into a pgBackRest
// repository, with databases "shop" (the source fixture) and "other", and
// one full backup of them.
type production struct {
	srv   *pgtest.Server
	repo  *pgbrtest.Repo
	label string
	sums  map[string]string
}

var (
	prodOnce sync.Once
	prod     production
	prodErr  error
)

func stopProduction() {
	if prod.srv != nil {
		prod.srv.Stop()
	}
	if prod.repo != nil {
		prod.repo.Remove()
	}
}

func physical(t *testing.T) production {
	t.Helper()
	prodOnce.Do(func() {
		if prod.repo, prodErr = pgbrtest.New(); prodErr != nil {
			return
		}
		if prod.srv, prodErr = pgtest.Start(pgtest.Options{Settings: prod.repo.ServerSettings()}); prodErr != nil {
			return
		}
		if prodErr = prod.repo.Attach(prod.srv); prodErr != nil {
			return
		}
		for db, sql := range map[string]string{"shop": sourceSQL, "other": "CREATE TABLE secrets AS SELECT 'other' AS s"} {
			if prodErr = createDBOn(prod.srv, db, sql); prodErr != nil {
				return
			}
		}
		if prod.label, prodErr = prod.repo.Backup("full"); prodErr != nil {
			return
		}
		prod.sums, prodErr = prod.srv.Checksums(context.Background(), "shop")
	})
	if prodErr != nil {
		t.Fatalf("cannot build the pgBackRest fixture: %v", prodErr)
	}
	return prod
}

// openDir is a temporary directory the postgres OS user may enter (the
// throwaway instance and pgBackRest run as it when the tests run as root).
func openDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "pgbr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	return dir
}

// pgbrOpts refreshes target from database "shop" of the repository at repo.
func pgbrOpts(t *testing.T, target, repo string) Options {
	scratch := openDir(t)
	return Options{
		TargetDB: target, KeepPrevious: 1, Jobs: 2,
		PgBackRest: &PgBackRestOptions{Stanza: pgbrtest.Stanza, Database: "shop", RepoPath: repo, Role: pgtest.Superuser},
		ScratchDir: scratch,
		Target:     srv.Conn(""),
		Stderr:     testWriter{t},
		Log:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
}

func TestRefreshFromAPgBackRestBackup(t *testing.T) {
	t.Parallel()
	p := physical(t)
	o := pgbrOpts(t, "pgbr_dev", p.repo.Path)
	res := mustRun(t, o)
	sameSums(t, "dev after a refresh from pgBackRest", mustChecksums(t, "pgbr_dev"), p.sums)
	b := res.Backup
	if b == nil || b.Label != p.label || b.Stanza != pgbrtest.Stanza || b.Type != "full" || b.StartLSN == "" || b.StopLSN == "" ||
		b.StoppedAt.Before(b.StartedAt) || b.TargetTime != nil {
		t.Fatalf("result's backup = %+v", b)
	}
	if res.DataTakenAt == nil || !res.DataTakenAt.Equal(b.StoppedAt) {
		t.Errorf("dataTakenAt = %v, want the backup's end %v", res.DataTakenAt, b.StoppedAt)
	}
	if !strings.Contains(res.Source, p.label) || !strings.Contains(res.Source, "shop") {
		t.Errorf("source = %q", res.Source)
	}
	for _, step := range []string{"pgbackrestRestore", "recover", "dump", "restore"} {
		if _, ok := res.DurationsMs[step]; !ok {
			t.Errorf("no duration of step %s in %v", step, res.DurationsMs)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(o.ScratchDir, "*")); len(left) > 0 {
		t.Errorf("scratch volume not emptied: %v", left)
	}
}

// A target time replays the archived WAL up to it: a row committed before
// it is in the copy, one committed after it is not.
func TestRefreshFromPgBackRestToATargetTime(t *testing.T) {
	t.Parallel()
	p := physical(t)
	exec1On(t, p.srv, "shop", "INSERT INTO users (email) VALUES ('before-target@prod.example')")
	target := serverNow(t, p.srv)
	exec1On(t, p.srv, "shop", "INSERT INTO users (email) VALUES ('after-target@prod.example')")
	archiveNow(t, p.srv)
	o := pgbrOpts(t, "pgbr_pitr", p.repo.Path)
	o.PgBackRest.TargetTime = &target
	res := mustRun(t, o)
	if n := countRows(t, "pgbr_pitr", "SELECT count(*) FROM users WHERE email = 'before-target@prod.example'"); n != 1 {
		t.Errorf("the row committed before the target time: %d copies, want 1", n)
	}
	if n := countRows(t, "pgbr_pitr", "SELECT count(*) FROM users WHERE email = 'after-target@prod.example'"); n != 0 {
		t.Errorf("the row committed after the target time is in the copy")
	}
	if res.Backup == nil || res.Backup.TargetTime == nil || !res.Backup.TargetTime.Equal(target) || !res.DataTakenAt.Equal(target) {
		t.Errorf("backup %+v, dataTakenAt %v; want target time %v", res.Backup, res.DataTakenAt, target)
	}
}

func TestAWrongStanzaLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	o := pgbrOpts(t, "", physical(t).repo.Path)
	o.PgBackRest.Stanza = "nope"
	failingRefresh(t, "pgbr_nostanza", o, `stanza "nope" is not in the pgBackRest repository`)
}

func TestAMissingRepositoryLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	physical(t)
	o := pgbrOpts(t, "", filepath.Join(openDir(t), "no-repo"))
	failingRefresh(t, "pgbr_norepo", o, `stanza "main" is not in the pgBackRest repository`)
}

func TestAMissingDatabaseLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	o := pgbrOpts(t, "", physical(t).repo.Path)
	o.PgBackRest.Database = "nosuchdb"
	failingRefresh(t, "pgbr_nodb", o, `cannot restore database "nosuchdb"`)
}

// A repository whose WAL archive lost the segments the backup needs: the
// restore works, recovery cannot reach consistency.
func TestMissingWALLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	p := physical(t)
	copyDir := filepath.Join(openDir(t), "repo")
	if out, err := exec.Command("cp", "-a", p.repo.Path, copyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	segs, _ := filepath.Glob(filepath.Join(copyDir, "archive", pgbrtest.Stanza, "*", "*", "0*"))
	if len(segs) == 0 {
		t.Fatal("no archived WAL segment in the repository")
	}
	for _, s := range segs {
		_ = os.Remove(s)
	}
	o := pgbrOpts(t, "", copyDir)
	failingRefresh(t, "pgbr_nowal", o, "cannot recover database \"shop\"")
}

func TestAWrongRoleLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	o := pgbrOpts(t, "", physical(t).repo.Path)
	o.PgBackRest.Role = "nobody_here"
	failingRefresh(t, "pgbr_norole", o, `the backup has no role "nobody_here"`)
}

func exec1On(t *testing.T, s *pgtest.Server, db, sql string) {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, s.Conn(db), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// archiveNow switches to a new WAL segment and waits until the finished
// one is in the repository.
func archiveNow(t *testing.T, s *pgtest.Server) {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, s.Conn(""), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var seg string
	if err := c.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&seg); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "WAL segment "+seg+" archived", 100*time.Millisecond, 30*time.Second, func() error {
		var last string
		_ = c.QueryRow(ctx, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver").Scan(&last)
		if last < seg {
			return fmt.Errorf("last archived %q", last)
		}
		return nil
	})
}

// serverNow is the server's clock: a recovery target between two commits
// is taken between them on the clock that stamps them.
func serverNow(t *testing.T, s *pgtest.Server) time.Time {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, s.Conn(""), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var now time.Time
	if err := c.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}

func countRows(t *testing.T, db, sql string) int {
	t.Helper()
	ctx := context.Background()
	c, err := postgres.Connect(ctx, srv.Conn(db), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
