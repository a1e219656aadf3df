package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// Analyze refreshes the planner statistics of db: a Dump copy has none
// (pg_restore does not carry them), so run it on a new copy before the
// candidate takes load, or, for the final copy of a rehearsed release,
// right after the switch.
func Analyze(ctx context.Context, admin postgres.Conn, db string) error {
	c, err := postgres.Connect(ctx, admin.WithDatabase(db), Tool)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	if _, err := c.Exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("cannot analyze database %q: %w", db, err)
	}
	return nil
}

// Settled says what Settle got done within its bound.
type Settled struct {
	// Vacuumed: the vacuum finished.
	Vacuumed bool
	// Checkpointed: a checkpoint followed it. False when the role may not
	// run CHECKPOINT (superuser, or pg_checkpoint from PostgreSQL 15).
	Checkpointed bool
}

// Settle prepares db, while it still takes writes, for a copy made under
// a freeze right after: it vacuums db, so the rows written since its last
// vacuum (during a rehearsal and the wait for approval, say) are marked
// visible and the copy reads settled pages instead of checking and marking
// every new row itself; then it checkpoints, so the copy's restore finds
// clean buffers to load into instead of writing dirty ones out first.
// Both would otherwise happen inside the window writes are refused. The
// vacuum skips tables another session holds locked and index cleanup; the
// whole stops at within, and what was done by then stays done.
func Settle(ctx context.Context, admin postgres.Conn, db string, within time.Duration) (Settled, error) {
	var done Settled
	deadline := time.Now().Add(within)
	c, err := postgres.Connect(ctx, admin.WithDatabase(db), Tool)
	if err != nil {
		return done, err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	run := func(sql string) (ok bool, err error) {
		left := time.Until(deadline).Milliseconds()
		if left <= 0 {
			return false, nil
		}
		if _, err := c.Exec(ctx, fmt.Sprintf("SET statement_timeout = %d", left)); err != nil {
			return false, err
		}
		_, err = c.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "57014" { // query_canceled: the bound
			return false, nil
		}
		return err == nil, err
	}
	if done.Vacuumed, err = run("VACUUM (SKIP_LOCKED, INDEX_CLEANUP OFF)"); err != nil || !done.Vacuumed {
		return done, wrapf(err, "cannot vacuum database %q", db)
	}
	done.Checkpointed, err = run("CHECKPOINT")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		return done, nil
	}
	return done, wrapf(err, "cannot checkpoint before freezing database %q", db)
}

// wrapf wraps err with a message, and leaves nil alone.
func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
