package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// copyByDump creates To empty (with the source's owner, encoding and
// locale, marked "copying"; a prepared To is only marked), dumps From in
// parallel directory format into a scratch directory and restores it with
// the source's owners.
func copyByDump(ctx context.Context, c *pgx.Conn, admin postgres.Conn, src dbInfo, s CloneSpec, m postgres.Marker, prepared bool) error {
	if prepared {
		if err := postgres.CommentOnDatabase(ctx, c, s.To, m.Comment()); err != nil {
			return err
		}
	} else if err := createLike(ctx, c, src, s.To, m.Comment()); err != nil {
		return err
	}
	return dumpRestore(ctx, admin, s.From, s.To, s.ScratchDir, s.Jobs, s.Stderr)
}

// dumpRestore dumps from in parallel directory format into a scratch
// directory (with dumpArgs) and restores it into the existing to with the
// source's owners.
func dumpRestore(ctx context.Context, admin postgres.Conn, from, to, scratchDir string, jobs int, stderr io.Writer, dumpArgs ...string) error {
	dir, err := os.MkdirTemp(scratchDir, "dbrelease-")
	if err != nil {
		return fmt.Errorf("cannot create a scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dump")
	j := strconv.Itoa(max(jobs, 1))
	args := append([]string{"-Fd", "-j", j, "--no-sync", "-f", path}, dumpArgs...)
	if err := runTool(ctx, "pg_dump", admin.WithDatabase(from), stderr, args...); err != nil {
		return err
	}
	return runTool(ctx, "pg_restore", admin.WithDatabase(to), stderr,
		"--exit-on-error", "--no-tablespaces", "-j", j, "-d", to, path)
}

// createLike creates name empty from template0 with src's owner, encoding
// and locale (template0 alone would take the server's defaults), then
// comments it; the copy intent on the source covers the moment between.
func createLike(ctx context.Context, c *pgx.Conn, src dbInfo, name, comment string) error {
	var enc, collate, ctype, provider, icu string
	err := c.QueryRow(ctx, `SELECT pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype,
		coalesce((to_jsonb(d) ->> 'datlocprovider'), 'c'), coalesce(to_jsonb(d) ->> 'daticulocale', to_jsonb(d) ->> 'datlocale', '')
		FROM pg_catalog.pg_database d WHERE datname = $1`, src.Name).Scan(&enc, &collate, &ctype, &provider, &icu)
	if err != nil {
		return fmt.Errorf("cannot read the encoding of database %q: %w", src.Name, err)
	}
	sql := "CREATE DATABASE " + postgres.QuoteIdent(name) + " OWNER " + postgres.QuoteIdent(src.Owner) +
		" TEMPLATE template0 ENCODING " + postgres.QuoteLiteral(enc) +
		" LC_COLLATE " + postgres.QuoteLiteral(collate) + " LC_CTYPE " + postgres.QuoteLiteral(ctype)
	switch provider { // PostgreSQL 15 and later
	case "i":
		sql += " LOCALE_PROVIDER icu ICU_LOCALE " + postgres.QuoteLiteral(icu)
	case "b":
		sql += " LOCALE_PROVIDER builtin BUILTIN_LOCALE " + postgres.QuoteLiteral(icu)
	}
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("cannot create database %q: %w", name, err)
	}
	return postgres.CommentOnDatabase(ctx, c, name, comment)
}

// runTool runs a PostgreSQL program against c, with the password in its
// environment only; the last of its messages go into the error.
func runTool(ctx context.Context, name string, c postgres.Conn, stderr io.Writer, args ...string) error {
	cmd, err := postgres.Command(ctx, name, c, os.Environ(), Tool, args...)
	if err != nil {
		return err
	}
	tail := &postgres.TailBuffer{Max: 2048}
	cmd.Stderr = tail
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, stderr)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s stopped: %w", name, context.Cause(ctx))
		}
		if msg := tail.String(); msg != "" {
			return fmt.Errorf("%s failed (%w): %s", name, err, msg)
		}
		return fmt.Errorf("%s failed: %w", name, err)
	}
	return nil
}

// isObjectInUse: a session slipped into the template database.
func isObjectInUse(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55006"
}

// isUndefinedObject: the subscription or slot is already gone.
func isUndefinedObject(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42704"
}

// isInvalidCatalog: the database to connect to does not exist (any more).
func isInvalidCatalog(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}
