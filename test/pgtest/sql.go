package pgtest

import (
	"context"
	"fmt"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// Exec runs statements on db as the superuser, in order, each in its own
// transaction; the first error stops it and names the statement.
func (s *Server) Exec(ctx context.Context, db string, stmts ...string) error {
	c, err := postgres.Connect(ctx, s.Conn(db), "pgtest")
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	for _, stmt := range stmts {
		if _, err := c.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// QueryInt runs a query returning one integer on db as the superuser.
func (s *Server) QueryInt(ctx context.Context, db, q string) (int64, error) {
	c, err := postgres.Connect(ctx, s.Conn(db), "pgtest")
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	var n int64
	if err := c.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s on %s: %w", q, db, err)
	}
	return n, nil
}
