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

// Settle vacuums db while it takes writes, right before a freeze: the rows
// written since its last vacuum (during a rehearsal and the wait for
// approval, say) are then marked visible, so the copy made under the
// freeze reads settled pages instead of checking and marking every new
// row itself, inside the window writes are refused. It skips tables
// another session holds locked and index cleanup, and stops at within:
// what it did by then stays done, and complete says whether it finished.
func Settle(ctx context.Context, admin postgres.Conn, db string, within time.Duration) (complete bool, err error) {
	c, err := postgres.Connect(ctx, admin.WithDatabase(db), Tool)
	if err != nil {
		return false, err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	if _, err := c.Exec(ctx, fmt.Sprintf("SET statement_timeout = %d", max(1, within.Milliseconds()))); err != nil {
		return false, err
	}
	if _, err := c.Exec(ctx, "VACUUM (SKIP_LOCKED, INDEX_CLEANUP OFF)"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "57014" { // query_canceled: the bound
			return false, nil
		}
		return false, fmt.Errorf("cannot vacuum database %q: %w", db, err)
	}
	return true, nil
}
