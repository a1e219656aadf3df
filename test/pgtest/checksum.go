package pgtest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// Checksums returns "rows:md5 of the rows in text order" for every table of
// db, keyed by its quoted schema-qualified name: two databases with equal
// maps hold the same data.
func (s *Server) Checksums(ctx context.Context, db string) (map[string]string, error) {
	c, err := postgres.Connect(ctx, s.Conn(db), "pgtest")
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`)
	if err != nil {
		return nil, fmt.Errorf("cannot list the tables of %q: %w", db, err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var t [2]string
		return t, r.Scan(&t[0], &t[1])
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the tables of %q: %w", db, err)
	}
	sums := map[string]string{}
	for _, t := range tables {
		q := postgres.QuoteIdent(t[0]) + "." + postgres.QuoteIdent(t[1])
		var n int64
		var sum string
		err := c.QueryRow(ctx, "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM "+q+" t").Scan(&n, &sum)
		if err != nil {
			return nil, fmt.Errorf("cannot checksum %s in %q: %w", q, db, err)
		}
		sums[q] = fmt.Sprintf("%d:%s", n, sum)
	}
	return sums, nil
}
