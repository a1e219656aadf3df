package postgres

import (
	"context"
	"fmt"
)

// CopyDatabaseGrants gives database to the same database-level privileges
// (CONNECT, CREATE, TEMPORARY, per role and PUBLIC) as from, so clients
// that may connect to from may connect to its replacement. A database with
// default privileges (no ACL) leaves to untouched.
func CopyDatabaseGrants(ctx context.Context, q Querier, from, to string) error {
	var hasACL bool
	if err := q.QueryRow(ctx, "SELECT datacl IS NOT NULL FROM pg_catalog.pg_database WHERE datname = $1", from).Scan(&hasACL); err != nil {
		return fmt.Errorf("cannot read the privileges of database %q: %w", from, err)
	}
	if !hasACL {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT a.privilege_type, a.grantee = 0, coalesce(pg_catalog.pg_get_userbyid(a.grantee), ''), a.is_grantable
		FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a WHERE d.datname = $1`, from)
	if err != nil {
		return fmt.Errorf("cannot read the privileges of database %q: %w", from, err)
	}
	type grant struct {
		priv, role string
		public     bool
		option     bool
	}
	var grants []grant
	for rows.Next() {
		var g grant
		if err := rows.Scan(&g.priv, &g.public, &g.role, &g.option); err != nil {
			rows.Close()
			return fmt.Errorf("cannot read the privileges of database %q: %w", from, err)
		}
		grants = append(grants, g)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read the privileges of database %q: %w", from, err)
	}
	// PUBLIC's defaults (CONNECT, TEMPORARY) go unless from grants them.
	if _, err := q.Exec(ctx, "REVOKE ALL ON DATABASE "+QuoteIdent(to)+" FROM PUBLIC"); err != nil {
		return fmt.Errorf("cannot reset the privileges of database %q: %w", to, err)
	}
	for _, g := range grants {
		grantee := "PUBLIC"
		if !g.public {
			grantee = QuoteIdent(g.role)
		}
		sql := "GRANT " + g.priv + " ON DATABASE " + QuoteIdent(to) + " TO " + grantee
		if g.option {
			sql += " WITH GRANT OPTION"
		}
		if _, err := q.Exec(ctx, sql); err != nil {
			return fmt.Errorf("cannot grant %s on database %q to %s: %w", g.priv, to, grantee, err)
		}
	}
	return nil
}
