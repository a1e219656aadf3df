package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understudy-dev/understudy/internal/masking"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// maskingPolicy reads --masking; nil without one.
func (r *run) maskingPolicy() (*masking.Policy, error) {
	if r.o.MaskingFile == "" {
		return nil, nil
	}
	return masking.ReadPolicy(r.o.MaskingFile)
}

// mask compares the policy with the side database's schema, after the
// sanitize SQL, and masks it in one transaction: a column the policy does
// not classify (or a name it gets wrong) fails the refresh before anything
// is changed, and a failing mask leaves nothing half masked (the side
// database is dropped either way).
func (r *run) mask(ctx context.Context, p *masking.Policy) error {
	if p == nil {
		return nil
	}
	t := time.Now()
	defer r.step("mask", t)
	side := r.o.Target.WithDatabase(r.o.sideName())
	conn, err := postgres.Connect(ctx, side, Tool)
	if err != nil {
		return fmt.Errorf("cannot connect to the copy to mask it: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if r.o.Owner != "" {
			if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+postgres.QuoteIdent(r.o.Owner)); err != nil {
				return fmt.Errorf("cannot mask as role %s: %w", r.o.Owner, err)
			}
		}
		// Row-level security must not hide rows from the UPDATEs: with it
		// off, a policy that would apply is an error, not an unmasked row.
		if _, err := tx.Exec(ctx, "SET LOCAL row_security = off"); err != nil {
			return fmt.Errorf("cannot turn row security off to mask: %w", err)
		}
		cat, err := readCatalog(ctx, tx)
		if err != nil {
			return err
		}
		stmts, rep, err := masking.Decide(*p, cat)
		r.res.Masking = &rep
		if err != nil {
			return err
		}
		r.log.Info("masking", "columns", rep.Columns, "statements", len(stmts))
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s.SQL); err != nil {
				return fmt.Errorf("cannot %s: %s", s.What, pgMessage(err))
			}
		}
		return nil
	})
}

// pgMessage is a server error with its detail and hint, which name what
// to change (the table a foreign key comes from, ...).
func pgMessage(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	msg := pe.Message
	if pe.Detail != "" {
		msg += " (" + pe.Detail + ")"
	}
	if pe.Hint != "" {
		msg += "; " + pe.Hint
	}
	return msg
}

// userTables are the tables that hold data: ordinary and partitioned
// tables (not partitions, which their parent covers) outside the system
// schemas and extensions.
const userTables = `SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
	  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
	  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`

// readCatalog reads what masking.Decide needs from the copy.
func readCatalog(ctx context.Context, tx pgx.Tx) (masking.Catalog, error) {
	var c masking.Catalog
	rows, _ := tx.Query(ctx, `WITH t AS (`+userTables+`)
		SELECT t.nspname, t.relname, a.attname, a.attnotnull, a.attgenerated <> ''
		FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY t.nspname, t.relname, a.attnum`)
	cols, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (masking.Column, error) {
		var col masking.Column
		return col, row.Scan(&col.Table.Schema, &col.Table.Name, &col.Name, &col.NotNull, &col.Generated)
	})
	if err != nil {
		return c, fmt.Errorf("cannot read the columns of the copy: %w", err)
	}
	rows, _ = tx.Query(ctx, `WITH t AS (`+userTables+`)
		SELECT t.nspname, t.relname, tn.nspname, tc.relname, g.tgname, g.tgenabled::text
		FROM t CROSS JOIN LATERAL ( -- pg_partition_tree has no row for a table without partitions
		  SELECT t.oid AS relid, 0 AS level UNION SELECT relid, level FROM pg_partition_tree(t.oid)) p
		JOIN pg_trigger g ON g.tgrelid = p.relid AND NOT g.tgisinternal AND g.tgenabled <> 'D'
		JOIN pg_class tc ON tc.oid = p.relid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
		ORDER BY p.level, tn.nspname, tc.relname, g.tgname`)
	trigs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (masking.Trigger, error) {
		var tr masking.Trigger
		return tr, row.Scan(&tr.Root.Schema, &tr.Root.Name, &tr.On.Schema, &tr.On.Name, &tr.Name, &tr.Enabled)
	})
	if err != nil {
		return c, fmt.Errorf("cannot read the triggers of the copy: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'm' AND c.relispopulated ORDER BY c.oid`)
	mvs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (masking.Relation, error) {
		var mv masking.Relation
		return mv, row.Scan(&mv.Schema, &mv.Name)
	})
	if err != nil {
		return c, fmt.Errorf("cannot read the materialized views of the copy: %w", err)
	}
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM pg_largeobject_metadata").Scan(&c.LargeObjects); err != nil {
		return c, fmt.Errorf("cannot count the large objects of the copy: %w", err)
	}
	c.Columns, c.Triggers, c.MatViews = cols, trigs, mvs
	return c, nil
}
