package postgres

import (
	"context"
	"fmt"
	"time"
)

// TerminateSessions ends every other session connected to db (idle, busy or
// in an open transaction) and returns how many it signalled. It needs
// superuser, the sessions' role, or pg_signal_backend.
func TerminateSessions(ctx context.Context, q Querier, db string) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid))
		FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()`, db).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("cannot end the sessions on database %q: %w", db, err)
	}
	return n, nil
}

// WaitNoSessions polls until no other session is connected to db, or
// timeout passes (then it returns how many remain, without error).
func WaitNoSessions(ctx context.Context, q Querier, db string, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		var n int
		err := q.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_stat_activity
			WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()`, db).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("cannot count the sessions on database %q: %w", db, err)
		}
		if n == 0 || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
