package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/dbstate"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// DropCopy drops one database this package made: one carrying its marker,
// or one a source records as the copy it was making (created, not yet
// marked). It then clears that record and lets clients into such a source
// again. Use it to remove a copy when a release fails before the switch
// (then Unfreeze the source). A missing database is not an error (dropped
// is false); a database that is not ours is ErrNotOurs and stays.
func DropCopy(ctx context.Context, admin postgres.Conn, name string) (dropped bool, err error) {
	err = withAdmin(ctx, admin, func(c *pgx.Conn) error {
		sources, err := copySources(ctx, c, name)
		if err != nil {
			return err
		}
		d, err := lookup(ctx, c, name)
		switch {
		case errors.Is(err, postgres.ErrNoDatabase):
		case err != nil:
			return err
		default:
			m, ours := d.marker()
			if !ours && len(sources) == 0 {
				return fmt.Errorf("cannot drop database %q: %w", name, ErrNotOurs)
			}
			if err := dropDatabase(ctx, c, admin, name, m.Source); err != nil {
				return err
			}
			dropped = true
		}
		for _, src := range sources {
			if err := finishCopy(ctx, c, src); err != nil {
				return err
			}
		}
		return nil
	})
	return dropped, err
}

// dropDatabase drops one of this package's databases, and first the
// replication into it, if any (a database with a subscription cannot be
// dropped, and its slot would pin source's WAL).
func dropDatabase(ctx context.Context, c *pgx.Conn, admin postgres.Conn, name, source string) error {
	if err := DropReplication(ctx, admin, source, name); err != nil {
		return err
	}
	return postgres.DropDatabase(ctx, c, name)
}

// copySources lists the databases that record a copy to name in progress.
func copySources(ctx context.Context, q postgres.Querier, name string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT d.datname FROM pg_catalog.pg_database d
		JOIN pg_catalog.pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
		WHERE $1 = ANY (s.setconfig) ORDER BY 1`, settingCopyingTo+"="+name)
	if err != nil {
		return nil, fmt.Errorf("cannot look for copies in progress to %q: %w", name, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("cannot look for copies in progress to %q: %w", name, err)
	}
	return names, nil
}

// DropCopies drops this package's databases for base (marker For == base)
// beyond retention and returns their names. Databases named in keep (the
// active one, the previous one, ...) are never dropped; of the other
// complete ones the retain newest stay; incomplete copies and rehearsal
// copies not in keep are leftovers and go. A database without the marker is never touched. Do
// not call it while a Clone for base is running.
func DropCopies(ctx context.Context, admin postgres.Conn, base string, keep []string, retain int) ([]string, error) {
	var dropped []string
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		dbs, err := postgres.ListDatabases(ctx, c)
		if err != nil {
			return err
		}
		type db struct {
			name    string
			created time.Time
		}
		var complete []db
		var drop []string
		sources := map[string]string{}
		for _, d := range dbs {
			m, ok := postgres.ParseMarker(Tool, d.Comment)
			if !ok || m.For != base || slices.Contains(keep, d.Name) {
				continue
			}
			sources[d.Name] = m.Source
			if dbstate.UnfinishedRole(m.Role) || m.Role == RoleRehearsal {
				drop = append(drop, d.Name)
			} else {
				complete = append(complete, db{d.Name, m.CreatedAt})
			}
		}
		sort.SliceStable(complete, func(i, j int) bool { return complete[i].created.After(complete[j].created) })
		for i, d := range complete {
			if i >= retain {
				drop = append(drop, d.name)
			}
		}
		var errs []error
		for _, name := range drop {
			if err := dropDatabase(ctx, c, admin, name, sources[name]); err != nil {
				errs = append(errs, err)
				continue
			}
			dropped = append(dropped, name)
		}
		return errors.Join(errs...)
	})
	return dropped, err
}

// MoveAside renames name to <name>_prev_<server time, YYYYMMDDhhmmss>,
// ending its sessions first, and returns the new name ("" when name does
// not exist). A color's database goes aside before the color receives a new
// copy, so the previous data stays for rollback until DropCopies: the
// marker (if any) moves with it; an adopted database stays unmarked and is
// never dropped.
func MoveAside(ctx context.Context, admin postgres.Conn, name string) (string, error) {
	var moved string
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		if _, err := lookup(ctx, c, name); errors.Is(err, postgres.ErrNoDatabase) {
			return nil
		} else if err != nil {
			return err
		}
		now, err := serverNow(ctx, c)
		if err != nil {
			return err
		}
		to, err := freeName(ctx, c, name, now)
		if err != nil {
			return err
		}
		for attempt := 1; ; attempt++ {
			if _, err := postgres.TerminateSessions(ctx, c, name); err != nil {
				return err
			}
			if _, err := postgres.WaitNoSessions(ctx, c, name, 5*time.Second); err != nil {
				return err
			}
			err := postgres.RenameDatabase(ctx, c, name, to)
			if err == nil {
				moved = to
				return nil
			}
			if attempt >= 3 || !isObjectInUse(err) {
				return err
			}
		}
	})
	return moved, err
}

// freeName is name_prev_<now>, a second later while taken.
func freeName(ctx context.Context, q postgres.Querier, name string, now time.Time) (string, error) {
	for i := 0; i < 100; i++ {
		to := name + "_prev_" + now.Add(time.Duration(i)*time.Second).Format("20060102150405")
		if len(to) > maxNameLen {
			return "", fmt.Errorf("cannot move database %q aside: %q is longer than %d bytes", name, to, maxNameLen)
		}
		if _, err := lookup(ctx, q, to); errors.Is(err, postgres.ErrNoDatabase) {
			return to, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("cannot find a free name to move database %q aside", name)
}
