package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/dbstate"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// EnsureDatabase makes sure the first color database name exists. A
// missing one is created empty (from template1, owned by owner, or by the
// admin user when owner is empty) and marked as this package's initial
// database for base; created reports that. An existing database is used as
// it is: one without a marker (the application's own) is adopted and will
// never be dropped. An incomplete copy is an error: resume or drop it.
//
// A restart between CREATE DATABASE and its comment leaves an empty
// database without a marker, which the next call adopts.
func EnsureDatabase(ctx context.Context, admin postgres.Conn, name, base, owner string) (created bool, err error) {
	if len(name) > maxNameLen {
		return false, fmt.Errorf("cannot create database %q: longer than %d bytes", name, maxNameLen)
	}
	err = withAdmin(ctx, admin, func(c *pgx.Conn) error {
		d, err := lookup(ctx, c, name)
		if err == nil {
			m, ours := d.marker()
			sources, err := copySources(ctx, c, name)
			if err != nil {
				return err
			}
			if (ours && dbstate.UnfinishedRole(m.Role)) || (!ours && len(sources) > 0) {
				return fmt.Errorf("cannot use database %q: it is an incomplete copy (resume the copy or drop it)", name)
			}
			return nil
		}
		if !errors.Is(err, postgres.ErrNoDatabase) {
			return err
		}
		now, err := serverNow(ctx, c)
		if err != nil {
			return err
		}
		m := postgres.Marker{Tool: Tool, Role: RoleInitial, For: base, CreatedAt: now}
		if err := postgres.CreateDatabase(ctx, c, name, m.Comment(), postgres.CreateOptions{Owner: owner}); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created, err
}

// SiteDatabases lists the databases on the server that belong to the site
// with base name base, by name (base itself, its color names, their
// moved-aside `_prev_` copies) or by this package's marker, sorted.
func SiteDatabases(ctx context.Context, admin postgres.Conn, base string) ([]string, error) {
	var names []string
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		dbs, err := postgres.ListDatabases(ctx, c)
		if err != nil {
			return err
		}
		for _, d := range dbs {
			m, marked := postgres.ParseMarker(Tool, d.Comment)
			if d.Name == base || siteName(base, d.Name) || (marked && m.For == base) {
				names = append(names, d.Name)
			}
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

// siteName tells whether name is one of the names this package gives the
// databases of base: a color's, or one moved aside.
func siteName(base, name string) bool {
	for _, c := range []string{"_blue", "_green"} {
		if name == base+c || strings.HasPrefix(name, base+c+"_prev_") {
			return true
		}
	}
	return strings.HasPrefix(name, base+"_prev_")
}
