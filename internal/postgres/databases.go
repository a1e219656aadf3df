package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what the helpers need from a connection or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Database is one database of a server as the catalog describes it.
type Database struct {
	Name             string
	Owner            string
	Comment          string
	AllowConnections bool
}

// ListDatabases returns every database of the server q is connected to,
// with its owner and comment, sorted by name.
func ListDatabases(ctx context.Context, q Querier) ([]Database, error) {
	rows, err := q.Query(ctx, `SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba),
		coalesce(pg_catalog.shobj_description(d.oid, 'pg_database'), ''), d.datallowconn
		FROM pg_catalog.pg_database d ORDER BY d.datname`)
	if err != nil {
		return nil, fmt.Errorf("cannot list databases: %w", err)
	}
	dbs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Database, error) {
		var d Database
		err := r.Scan(&d.Name, &d.Owner, &d.Comment, &d.AllowConnections)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list databases: %w", err)
	}
	return dbs, nil
}

// ErrNoDatabase is returned by GetDatabase when the database does not exist.
var ErrNoDatabase = errors.New("database does not exist")

// GetDatabase returns one database, or ErrNoDatabase.
func GetDatabase(ctx context.Context, q Querier, name string) (Database, error) {
	d := Database{Name: name}
	err := q.QueryRow(ctx, `SELECT pg_catalog.pg_get_userbyid(d.datdba),
		coalesce(pg_catalog.shobj_description(d.oid, 'pg_database'), ''), d.datallowconn
		FROM pg_catalog.pg_database d WHERE d.datname = $1`, name).Scan(&d.Owner, &d.Comment, &d.AllowConnections)
	if errors.Is(err, pgx.ErrNoRows) {
		return Database{}, fmt.Errorf("database %q: %w", name, ErrNoDatabase)
	}
	if err != nil {
		return Database{}, fmt.Errorf("cannot look up database %q: %w", name, err)
	}
	return d, nil
}

// CreateOptions are the optional clauses of CREATE DATABASE.
type CreateOptions struct {
	// Owner becomes the database's owner (the connected user must be a
	// member of it); empty keeps the connected user.
	Owner string
	// Template is the database to copy; empty means template1.
	Template string
	// Strategy is WAL_LOG or FILE_COPY (PostgreSQL 15 and later); empty
	// leaves the server's default.
	Strategy string
}

// CreateDatabase creates name and then sets its comment (normally a
// Marker). CREATE DATABASE cannot run in a transaction, so the comment
// follows at once in a second statement.
func CreateDatabase(ctx context.Context, q Querier, name, comment string, o CreateOptions) error {
	sql := "CREATE DATABASE " + QuoteIdent(name)
	if o.Owner != "" {
		sql += " OWNER " + QuoteIdent(o.Owner)
	}
	if o.Template != "" {
		sql += " TEMPLATE " + QuoteIdent(o.Template)
	}
	if o.Strategy != "" {
		sql += " STRATEGY " + QuoteIdent(o.Strategy)
	}
	if _, err := q.Exec(ctx, sql); err != nil {
		return fmt.Errorf("cannot create database %q: %w", name, err)
	}
	if comment != "" {
		return CommentOnDatabase(ctx, q, name, comment)
	}
	return nil
}

// CommentOnDatabase sets a database's comment.
func CommentOnDatabase(ctx context.Context, q Querier, name, comment string) error {
	if _, err := q.Exec(ctx, "COMMENT ON DATABASE "+QuoteIdent(name)+" IS "+QuoteLiteral(comment)); err != nil {
		return fmt.Errorf("cannot set the comment of database %q: %w", name, err)
	}
	return nil
}

// RenameDatabase renames from to to. Nobody may be connected to from; it
// can run inside a transaction, so several renames can be made atomic.
func RenameDatabase(ctx context.Context, q Querier, from, to string) error {
	if _, err := q.Exec(ctx, "ALTER DATABASE "+QuoteIdent(from)+" RENAME TO "+QuoteIdent(to)); err != nil {
		return fmt.Errorf("cannot rename database %q to %q: %w", from, to, err)
	}
	return nil
}

// SetAllowConnections allows or refuses new connections to a database.
// Refusing them applies to superusers too; sessions already open stay.
func SetAllowConnections(ctx context.Context, q Querier, name string, allow bool) error {
	sql := fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t", QuoteIdent(name), allow)
	if _, err := q.Exec(ctx, sql); err != nil {
		return fmt.Errorf("cannot set allow_connections=%t on database %q: %w", allow, name, err)
	}
	return nil
}

// DropDatabase ends every session on name and drops it; a database that
// does not exist is not an error.
func DropDatabase(ctx context.Context, q Querier, name string) error {
	if _, err := TerminateSessions(ctx, q, name); err != nil {
		return err
	}
	// DROP DATABASE waits up to 5 s for terminated sessions to go.
	if _, err := q.Exec(ctx, "DROP DATABASE IF EXISTS "+QuoteIdent(name)); err != nil {
		return fmt.Errorf("cannot drop database %q: %w", name, err)
	}
	return nil
}
