package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// Status reads db's state; a missing database is a State with Exists
// false, not an error.
func Status(ctx context.Context, admin postgres.Conn, db string) (State, error) {
	all, err := Statuses(ctx, admin, db)
	return all[db], err
}

// Statuses reads the state of each named database over one connection.
func Statuses(ctx context.Context, admin postgres.Conn, names ...string) (map[string]State, error) {
	out := make(map[string]State, len(names))
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		for _, name := range names {
			if _, done := out[name]; done || name == "" {
				continue
			}
			st, err := statusOn(ctx, c, name)
			if err != nil {
				return err
			}
			out[name] = st
		}
		return nil
	})
	return out, err
}

func statusOn(ctx context.Context, c *pgx.Conn, db string) (State, error) {
	st := State{Name: db}
	d, err := lookup(ctx, c, db)
	if errors.Is(err, postgres.ErrNoDatabase) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.Exists, st.OID, st.Owner, st.AllowConnections = true, d.OID, d.Owner, d.AllowConnections
	st.Marker, st.Marked = d.marker()
	st.Frozen = d.readOnly()
	if st.Frozen {
		st.FrozenSince = d.frozenSince()
	}
	st.CopyingTo = d.copyingTo()
	return st, nil
}

// ReadRows reads into st how many rows its database's user tables have had
// inserted, updated and deleted (pg_stat_user_tables: the system catalogs,
// which ANALYZE, VACUUM and DDL write to, and TOAST tables are not
// counted), with the database's OID and statistics reset time read in the
// same session, so the three belong together.
func ReadRows(ctx context.Context, admin postgres.Conn, st *State) error {
	c, err := postgres.Connect(ctx, admin.WithDatabase(st.Name), Tool)
	if err != nil {
		return fmt.Errorf("cannot count the rows written to database %q: %w", st.Name, err)
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	var reset *time.Time
	err = c.QueryRow(ctx, `SELECT d.datid, d.stats_reset,
		(SELECT coalesce(sum(t.n_tup_ins + t.n_tup_upd + t.n_tup_del), 0)::bigint FROM pg_catalog.pg_stat_user_tables t)
		FROM pg_catalog.pg_stat_database d WHERE d.datname = pg_catalog.current_database()`).Scan(&st.OID, &reset, &st.Rows)
	if err != nil {
		return fmt.Errorf("cannot count the rows written to database %q: %w", st.Name, err)
	}
	st.StatsReset, st.RowsRead = time.Time{}, true
	if reset != nil {
		st.StatsReset = reset.UTC()
	}
	return nil
}
