package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// swapAttempts bounds how often the swap retries when a session slipped
// in between ending the sessions and the rename.
const swapAttempts = 3

// swap puts the side database in the target's place. The target refuses
// new connections, its sessions are ended, and both renames (target ->
// previous copy, side -> target) commit in one transaction: clients see
// the old database or the new one, never none, and the target is
// unavailable only for those few statements, whatever its size.
func (r *run) swap(ctx context.Context, admin *pgx.Conn, marker postgres.Marker) error {
	t := time.Now()
	defer r.step("swap", t)
	target, side := r.o.TargetDB, r.o.sideName()
	marker.Role = "copy"
	old, err := postgres.GetDatabase(ctx, admin, target)
	if errors.Is(err, postgres.ErrNoDatabase) {
		r.log.Info("first refresh: the copy becomes the target", "target", target)
		return r.renameInto(ctx, admin, "", side, marker)
	}
	if err != nil {
		return err
	}
	// Whoever could connect to the target can connect to its replacement,
	// with the same database-wide settings (search_path, time zone, ...).
	if err := postgres.CopyDatabaseGrants(ctx, admin, target, side); err != nil {
		return err
	}
	if err := postgres.CopyDatabaseSettings(ctx, admin, target, side, nil); err != nil {
		return err
	}
	prev, err := r.freePreviousName(ctx, admin)
	if err != nil {
		return err
	}
	r.log.Info("swapping", "target", target, "previous", prev)
	blocked := time.Now()
	if err := postgres.SetAllowConnections(ctx, admin, target, false); err != nil {
		return err
	}
	swapped := false
	defer func() {
		if !swapped { // give the target back exactly as it was
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := r.withAdmin(cctx, func(c *pgx.Conn) error {
				return postgres.SetAllowConnections(cctx, c, target, old.AllowConnections)
			}); err != nil {
				r.log.Error("cannot let clients back into the target", "target", target, "error", err)
			}
		}
	}()
	for attempt := 1; ; attempt++ {
		n, err := postgres.TerminateSessions(ctx, admin, target)
		if err != nil {
			return err
		}
		if _, err := postgres.WaitNoSessions(ctx, admin, target, 5*time.Second); err != nil {
			return err
		}
		err = r.renameInto(ctx, admin, prev, side, marker)
		if err == nil {
			swapped = true
			r.res.UnavailableMs = time.Since(blocked).Milliseconds()
			r.res.Previous = prev
			r.log.Info("swapped", "target", target, "previous", prev, "sessionsEnded", n, "unavailableMs", r.res.UnavailableMs)
			break
		}
		var pgErr *pgconn.PgError
		if attempt >= swapAttempts || !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return err
		}
		r.log.Info("a session is still on the target; retrying the swap", "attempt", attempt)
	}
	// The previous copy takes connections again as before, for a rollback.
	if err := postgres.SetAllowConnections(ctx, admin, prev, old.AllowConnections); err != nil {
		r.warn("cannot let clients into the previous copy", err)
	}
	return nil
}

// renameInto renames target to prev (unless prev is empty: no target yet)
// and side to target, and marks the new target, in one transaction.
func (r *run) renameInto(ctx context.Context, admin *pgx.Conn, prev, side string, marker postgres.Marker) error {
	return pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		if prev != "" {
			if err := postgres.RenameDatabase(ctx, tx, r.o.TargetDB, prev); err != nil {
				return err
			}
		}
		if err := postgres.RenameDatabase(ctx, tx, side, r.o.TargetDB); err != nil {
			return err
		}
		return postgres.CommentOnDatabase(ctx, tx, r.o.TargetDB, marker.Comment())
	})
}

// freePreviousName is <target>_prev_<now>, a second later if taken.
func (r *run) freePreviousName(ctx context.Context, admin *pgx.Conn) (string, error) {
	now := r.o.Now()
	for i := 0; i < 100; i++ {
		name := r.o.previousName(now.Add(time.Duration(i) * time.Second))
		_, err := postgres.GetDatabase(ctx, admin, name)
		if errors.Is(err, postgres.ErrNoDatabase) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("cannot find a free name for the previous copy of %q", r.o.TargetDB)
}
