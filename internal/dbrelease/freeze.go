package dbrelease

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// Freeze makes db read-only for its clients while reads go on, and returns
// since when it is frozen (the server's clock).
//
// It sets default_transaction_read_only = on for the database, records the
// time in the database setting understudy.frozen_since, then ends the client
// sessions that started before that time: a write in flight is rolled back
// and reported to its client (never lost silently), and clients that
// reconnect are read-only, their writes failing with SQLSTATE 25006
// (read_only_sql_transaction). It is idempotent: on a frozen database it
// keeps the original time and only makes sure no session from before it
// is left, so a restart between its steps is harmless.
//
// The freeze stops applications that use the default transaction mode. A
// client that asks for it (SET default_transaction_read_only = off, BEGIN
// READ WRITE) can still write, and prepared (two-phase) transactions can
// still commit: it is a guard for releases, not a permission.
func Freeze(ctx context.Context, admin postgres.Conn, db string) (time.Time, error) {
	var since time.Time
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		d, err := lookup(ctx, c, db)
		if err != nil {
			return err
		}
		if !d.readOnly() {
			if err := setSetting(ctx, c, db, settingReadOnly, "on"); err != nil {
				return fmt.Errorf("cannot freeze database %q: %w", db, err)
			}
		}
		// The time is taken after the setting committed: a session started
		// later reads it at connection start and is read-only.
		since = d.frozenSince()
		if since.IsZero() {
			if since, err = serverNow(ctx, c); err != nil {
				return err
			}
			if err := setSetting(ctx, c, db, settingFrozenSince, since.Format(time.RFC3339Nano)); err != nil {
				return fmt.Errorf("cannot record the freeze of database %q: %w", db, err)
			}
		}
		if _, err := endSessionsBefore(ctx, c, db, since); err != nil {
			return fmt.Errorf("cannot freeze database %q: %w", db, err)
		}
		return nil
	})
	return since, err
}

// Unfreeze makes db writable again: it resets default_transaction_read_only,
// ends the sessions opened while it was frozen (they are read-only until
// they reconnect), lets clients in again if an interrupted Template copy
// left the database refusing connections, and only then clears
// understudy.frozen_since, so a restart in between finishes the job. A
// database that is not frozen is left as it is.
func Unfreeze(ctx context.Context, admin postgres.Conn, db string) error {
	return withAdmin(ctx, admin, func(c *pgx.Conn) error {
		d, err := lookup(ctx, c, db)
		if err != nil {
			return err
		}
		if err := letClientsIn(ctx, c, d); err != nil {
			return err
		}
		if !d.readOnly() && d.frozenSince().IsZero() {
			return nil
		}
		if d.readOnly() {
			if err := setSetting(ctx, c, db, settingReadOnly, ""); err != nil {
				return fmt.Errorf("cannot unfreeze database %q: %w", db, err)
			}
		}
		cutoff, err := serverNow(ctx, c)
		if err != nil {
			return err
		}
		if _, err := endSessionsBefore(ctx, c, db, cutoff); err != nil {
			return fmt.Errorf("cannot unfreeze database %q: %w", db, err)
		}
		if err := setSetting(ctx, c, db, settingFrozenSince, ""); err != nil {
			return fmt.Errorf("cannot unfreeze database %q: %w", db, err)
		}
		return nil
	})
}

// FreezeState reports whether db is read-only for new sessions and, when
// Freeze did it, since when. A database made read-only by someone else is
// frozen with a zero time.
func FreezeState(ctx context.Context, admin postgres.Conn, db string) (frozen bool, since time.Time, err error) {
	err = withAdmin(ctx, admin, func(c *pgx.Conn) error {
		d, err := lookup(ctx, c, db)
		if err != nil {
			return err
		}
		frozen = d.readOnly()
		if frozen {
			since = d.frozenSince()
		}
		return nil
	})
	return frozen, since, err
}

// letClientsIn undoes what an interrupted Template copy left on its source:
// connections refused while the copy intent is recorded.
func letClientsIn(ctx context.Context, q postgres.Querier, d dbInfo) error {
	if d.AllowConnections || d.copyingTo() == "" {
		return nil
	}
	return postgres.SetAllowConnections(ctx, q, d.Name, true)
}

// FrozenFor is how long db has been frozen by Freeze, by the server's
// clock: read right after a switch, the write freeze a release's clients
// saw. Zero when db is not frozen by Freeze.
func FrozenFor(ctx context.Context, admin postgres.Conn, db string) (time.Duration, error) {
	var d time.Duration
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		info, err := lookup(ctx, c, db)
		if err != nil {
			return err
		}
		since := info.frozenSince()
		if !info.readOnly() || since.IsZero() {
			return nil
		}
		now, err := serverNow(ctx, c)
		if err != nil {
			return err
		}
		d = now.Sub(since)
		return nil
	})
	return d, err
}
