package refresh

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// cleanupTimeout bounds dropping the side database after a failure or a
// SIGTERM (Kubernetes gives a pod 30 s by default).
const cleanupTimeout = 25 * time.Second

// run is one refresh in progress.
type run struct {
	o   Options
	log *slog.Logger
	res *Result
}

// Run performs one refresh and returns its result; it never panics on a
// failure and never leaves a side database behind on one. Cancelling ctx
// (SIGTERM) stops the PostgreSQL programs, drops the side database and
// reports Failed.
func Run(ctx context.Context, o Options) Result {
	o.defaults()
	start := time.Now()
	res := Result{Target: o.TargetDB, DurationsMs: map[string]int64{}}
	r := &run{o: o, log: o.Log, res: &res}
	err := r.do(ctx)
	res.DurationsMs["total"] = time.Since(start).Milliseconds()
	if err != nil {
		res.Result, res.Error = Failed, err.Error()
		r.log.Error("refresh failed; the target is unchanged", "target", o.TargetDB, "error", err)
		return res
	}
	res.Result, res.Step = Succeeded, ""
	r.log.Info("refresh succeeded", "target", o.TargetDB, "previous", res.Previous, "totalMs", res.DurationsMs["total"], "unavailableMs", res.UnavailableMs)
	return res
}

func (r *run) do(ctx context.Context) (err error) {
	r.res.Step = StepValidate
	if err := r.o.validate(); err != nil {
		return err
	}
	r.res.Step = StepConnect
	admin, err := r.connectAdmin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = admin.Close(context.WithoutCancel(ctx)) }()
	r.res.Step = StepLock
	if err := r.lock(ctx, admin); err != nil {
		return err
	}
	if err := r.dropStaleSide(ctx, admin); err != nil {
		return err
	}
	r.res.Step = StepSanitize
	files, err := sanitizeFiles(r.o.SanitizeDir)
	if err != nil {
		return err
	}
	r.res.Step = StepMask
	policy, err := r.maskingPolicy()
	if err != nil {
		return err
	}
	r.res.Step = StepSource
	var d *dump
	switch {
	case r.o.SourceDB != "":
		d, err = r.liveDump(ctx)
	case r.o.S3 != nil:
		d, err = r.s3Dump(ctx)
	case r.o.PgBackRest != nil:
		d, err = r.pgbackrestDump(ctx)
	default:
		d, err = r.backupDump(ctx)
	}
	if err != nil {
		return err
	}
	defer d.cleanup()
	// Before the files go, the check reading them must be done.
	defer func() { _ = r.waitChecked(d) }()
	taken := d.takenAt.UTC()
	r.res.Source, r.res.Bytes, r.res.DataTakenAt = d.source, d.bytes, &taken

	marker := postgres.Marker{Tool: Tool, Role: "side", For: r.o.TargetDB, Source: d.source, CreatedAt: r.o.Now().UTC().Truncate(time.Second)}
	side := r.o.sideName()
	r.res.Step = StepRestore
	r.log.Info("creating the side database", "database", side, "owner", r.o.Owner)
	if err := postgres.CreateDatabase(ctx, admin, side, "", postgres.CreateOptions{Owner: r.o.Owner, Template: "template0"}); err != nil {
		return err
	}
	swapped := false
	defer func() {
		if !swapped {
			r.dropSide(ctx)
		}
	}()
	if err := postgres.CommentOnDatabase(ctx, admin, side, marker.Comment()); err != nil {
		return err
	}
	if err := r.restore(stopOnRefusal(ctx, d), d); err != nil {
		// A dump cut short fails pg_restore too; the check says so better.
		if cerr := r.waitChecked(d); cerr != nil {
			r.res.Step = StepSource
			return cerr
		}
		return err
	}
	r.res.Step = StepSanitize
	if err := r.sanitize(ctx, files); err != nil {
		return err
	}
	r.res.Step = StepMask
	if err := r.mask(ctx, policy); err != nil {
		return err
	}
	r.res.Step = StepAnalyze
	if err := r.analyze(ctx); err != nil {
		return err
	}
	r.res.Step = StepSource
	if err := r.waitChecked(d); err != nil {
		return err
	}
	if err := d.unchanged(); err != nil {
		return err
	}
	r.res.Step = StepSwap
	if err := r.swap(ctx, admin, marker); err != nil {
		return err
	}
	swapped = true
	if d.unproven != "" {
		r.warn("kept every previous copy (keepPrevious not applied)", fmt.Errorf("the backup %s cannot be proven complete: %s", d.source, d.unproven))
		return nil
	}
	r.retain(ctx, admin)
	return nil
}

// lock waits until no other refresh of the same target runs on the server
// and keeps it so until admin's session ends (with the run, or with the
// process): a refresh-now Job and a scheduled one, which the CronJob's
// concurrencyPolicy does not see as overlapping, then run one after the
// other instead of dropping each other's side database.
func (r *run) lock(ctx context.Context, admin *pgx.Conn) error {
	key := LockKey(r.o.TargetDB)
	var got bool
	if err := admin.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return fmt.Errorf("cannot take the refresh lock of %s: %w", r.o.TargetDB, err)
	}
	if got {
		return nil
	}
	r.log.Info("another refresh of this target is running; waiting for it to finish", "target", r.o.TargetDB)
	start := time.Now()
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("waiting for another refresh of %s to finish: %w", r.o.TargetDB, err)
	}
	r.step("waitForLock", start)
	return nil
}

// LockKey is the PostgreSQL advisory lock a refresh of target holds.
func LockKey(target string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(Tool + "/" + target))
	return int64(h.Sum64())
}

// connectAdmin connects to the target server's maintenance database, from
// where databases are created, renamed and dropped.
func (r *run) connectAdmin(ctx context.Context) (*pgx.Conn, error) {
	conn, err := postgres.Connect(ctx, r.o.Target.WithDatabase(postgres.MaintenanceDB), Tool)
	if err != nil {
		// A server without "postgres" still has template1.
		if c, err2 := postgres.Connect(ctx, r.o.Target.WithDatabase("template1"), Tool); err2 == nil {
			return c, nil
		}
		return nil, fmt.Errorf("cannot reach the target server: %w", err)
	}
	return conn, nil
}

// withAdmin runs f on a fresh admin connection (for cleanups, whose
// context outlives a cancelled run).
func (r *run) withAdmin(ctx context.Context, f func(*pgx.Conn) error) error {
	c, err := r.connectAdmin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(ctx) }()
	return f(c)
}

// dropStaleSide drops a side database an earlier, killed run left behind.
// A database of that name without the runner's marker is not ours: refuse.
func (r *run) dropStaleSide(ctx context.Context, admin *pgx.Conn) error {
	side := r.o.sideName()
	d, err := postgres.GetDatabase(ctx, admin, side)
	if errors.Is(err, postgres.ErrNoDatabase) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, ok := postgres.ParseMarker(Tool, d.Comment); !ok {
		return fmt.Errorf("database %q exists but was not created by the refresh runner (its comment has no %q marker): rename or drop it", side, Tool)
	}
	r.log.Info("dropping a side database left by an earlier run", "database", side)
	return postgres.DropDatabase(ctx, admin, side)
}

// dropSide drops this run's side database after a failure, even when ctx
// was cancelled. This run created it, so no marker check is needed.
func (r *run) dropSide(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	side := r.o.sideName()
	err := r.withAdmin(cctx, func(c *pgx.Conn) error {
		return postgres.DropDatabase(cctx, c, side)
	})
	if err != nil {
		r.log.Error("cannot drop the side database", "database", side, "error", err)
		return
	}
	r.log.Info("dropped the side database", "database", side)
}

func (r *run) step(name string, since time.Time) {
	r.res.DurationsMs[name] = time.Since(since).Milliseconds()
}

func (r *run) warn(what string, err error) {
	r.log.Warn(what, "error", err)
	r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("%s: %v", what, err))
}
