package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// ReplicaStatus reads the replication into to; a database without a
// subscription of ours is the zero state.
func ReplicaStatus(ctx context.Context, admin postgres.Conn, to string) (ReplicaState, error) {
	var st ReplicaState
	name := ReplicationName(to)
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		err := c.QueryRow(ctx, `SELECT s.subenabled FROM pg_catalog.pg_subscription s
			JOIN pg_catalog.pg_database d ON d.oid = s.subdbid WHERE d.datname = $1 AND s.subname = $2`, to, name).Scan(&st.Enabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read subscription %s: %w", name, err)
		}
		st.Subscribed = true
		err = c.QueryRow(ctx, `SELECT coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint
			FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, name).Scan(&st.LagBytes)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("cannot read replication slot %s: %w", name, err)
		}
		return nil
	})
	if err != nil || !st.Subscribed {
		return st, err
	}
	err = onDatabase(ctx, admin, to, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_subscription_rel r
			JOIN pg_catalog.pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1 AND r.srsubstate <> 'r')`, name).Scan(&st.Synced)
	})
	return st, err
}

// ReplicationUnsupported lists why from cannot be replicated into a next
// database, each a sentence a person can act on; none when it can.
func ReplicationUnsupported(ctx context.Context, admin postgres.Conn, from string) ([]string, error) {
	var why []string
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		var walLevel string
		var super bool
		var freeSlots, freeOrigins int
		err := c.QueryRow(ctx, `SELECT current_setting('wal_level'),
			(SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
			current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_catalog.pg_replication_slots),
			current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_catalog.pg_replication_origin)`).Scan(&walLevel, &super, &freeSlots, &freeOrigins)
		if err != nil {
			return fmt.Errorf("cannot read the server's replication settings: %w", err)
		}
		if walLevel != "logical" {
			why = append(why, fmt.Sprintf("wal_level is %s, not logical (set wal_level = logical and restart PostgreSQL)", walLevel))
		}
		if !super {
			why = append(why, "the admin connection's role is not a superuser (creating a subscription needs one)")
		}
		if freeSlots < 1 || freeOrigins < 1 {
			why = append(why, fmt.Sprintf("no replication slot or origin is free (%d slots, %d origins; raise max_replication_slots or drop unused ones)",
				max(freeSlots, 0), max(freeOrigins, 0)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = onDatabase(ctx, admin, from, func(c *pgx.Conn) error {
		more, err := tablesUnfitFor(ctx, c)
		why = append(why, more...)
		return err
	})
	return why, err
}

// tablesUnfitFor lists what in the connected database logical replication
// cannot carry: tables without a primary key or replica identity (their
// UPDATE and DELETE would fail once published), unlogged tables and large
// objects (not replicated).
func tablesUnfitFor(ctx context.Context, c *pgx.Conn) ([]string, error) {
	var noKey, unlogged []string
	var largeObjects bool
	err := c.QueryRow(ctx, `SELECT
		coalesce(array_agg(format('%I.%I', n.nspname, c.relname) ORDER BY 1) FILTER (WHERE c.relpersistence = 'p' AND (c.relreplident = 'n'
			OR c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))), '{}'),
		coalesce(array_agg(format('%I.%I', n.nspname, c.relname) ORDER BY 1) FILTER (WHERE c.relpersistence = 'u'), '{}'),
		EXISTS (SELECT 1 FROM pg_catalog.pg_largeobject_metadata)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'`).
		Scan(&noKey, &unlogged, &largeObjects)
	if err != nil {
		return nil, fmt.Errorf("cannot list the tables to replicate: %w", err)
	}
	var why []string
	if len(noKey) > 0 {
		why = append(why, "tables without a primary key or replica identity: "+strings.Join(noKey, ", ")+
			" (add a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL)")
	}
	if len(unlogged) > 0 {
		why = append(why, "unlogged tables are not replicated: "+strings.Join(unlogged, ", "))
	}
	if largeObjects {
		why = append(why, "the database holds large objects, which are not replicated")
	}
	return why, nil
}

// column is one column of a user table.
type column struct {
	table, name         string
	notNull, hasDefault bool
}

// ReplicaConflicts lists what in to's schema, once migrated, replication
// from from cannot carry, each naming schema.table.column: a table or
// column of from that to lacks (renamed or dropped: the apply fails on
// the next write to it) and a column only to has that is NOT NULL without
// a default (replicated rows have no value for it). A subscription
// stopped on an apply error is reported too.
func ReplicaConflicts(ctx context.Context, admin postgres.Conn, from, to string) ([]string, error) {
	var live, next []column
	err := onDatabase(ctx, admin, from, func(c *pgx.Conn) (err error) { live, err = columns(ctx, c); return err })
	if err == nil {
		err = onDatabase(ctx, admin, to, func(c *pgx.Conn) (err error) { next, err = columns(ctx, c); return err })
	}
	if err != nil {
		return nil, err
	}
	var why []string
	liveTables, liveCols := set(live)
	nextTables, nextCols := set(next)
	gone := map[string]bool{}
	for _, c := range live {
		switch {
		case !nextTables[c.table] && !gone[c.table]:
			why = append(why, fmt.Sprintf("table %s is gone on the next database (renamed or dropped)", c.table))
			gone[c.table] = true
		case nextTables[c.table] && !nextCols[c.table+"."+c.name]:
			why = append(why, fmt.Sprintf("column %s.%s is gone on the next database (renamed or dropped)", c.table, c.name))
		}
	}
	for _, c := range next {
		if liveTables[c.table] && !liveCols[c.table+"."+c.name] && c.notNull && !c.hasDefault {
			why = append(why, fmt.Sprintf("column %s.%s is NOT NULL without a default: rows replicated from live have no value for it", c.table, c.name))
		}
	}
	st, err := ReplicaStatus(ctx, admin, to)
	if err == nil && st.Subscribed && !st.Enabled {
		why = append(why, ErrReplicationStopped.Error())
	}
	return why, err
}

// set indexes columns by table and by "table.column".
func set(cols []column) (tables, names map[string]bool) {
	tables, names = map[string]bool{}, map[string]bool{}
	for _, c := range cols {
		tables[c.table], names[c.table+"."+c.name] = true, true
	}
	return tables, names
}

// columns lists the columns of the connected database's user tables.
func columns(ctx context.Context, c *pgx.Conn) ([]column, error) {
	rows, err := c.Query(ctx, `SELECT format('%I.%I', n.nspname, t.relname), a.attname, a.attnotnull,
		a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
		FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class t ON t.oid = a.attrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
		WHERE t.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
		AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		ORDER BY 1, a.attnum`)
	if err != nil {
		return nil, fmt.Errorf("cannot list the columns: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var col column
		err := r.Scan(&col.table, &col.name, &col.notNull, &col.hasDefault)
		return col, err
	})
}

// ReplicationLeftovers lists which of names (databases made to follow
// another) still have a slot or subscription of understudy's.
func ReplicationLeftovers(ctx context.Context, admin postgres.Conn, names ...string) ([]string, error) {
	var left []string
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		for _, name := range names {
			var found bool
			err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)
				OR EXISTS (SELECT 1 FROM pg_catalog.pg_subscription WHERE subname = $1)`, ReplicationName(name)).Scan(&found)
			if err != nil {
				return fmt.Errorf("cannot look for the replication into %q: %w", name, err)
			}
			if found {
				left = append(left, name)
			}
		}
		return nil
	})
	return left, err
}
