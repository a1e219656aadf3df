package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// CatchUpResult says what CatchUp did.
type CatchUpResult struct {
	// Waited is how long the next database took to apply the frozen
	// source's last writes.
	Waited time.Duration
	// Sequences is how many sequences were brought past the source's.
	Sequences int
	// Done: the next database was already caught up and marked complete.
	Done bool
}

// CatchUp ends a replicated cutover inside the write freeze: from must be
// frozen by Freeze. It waits until to's subscription confirmed every WAL
// position from had written when the wait began (so every write
// acknowledged before the freeze is applied), at most timeout; sets each
// of to's sequences to from's value (logical replication carries none);
// marks to a complete copy (RoleCopy, after the freeze: CopyOf holds);
// disables the subscription, and makes to writable again, ending the
// sessions that opened while it was held read-only. What remains of the
// replication is dropped by DropReplication, after the switch. Idempotent:
// a to already marked complete is left as it is.
func CatchUp(ctx context.Context, admin postgres.Conn, from, to string, timeout time.Duration) (CatchUpResult, error) {
	var res CatchUpResult
	name := ReplicationName(to)
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		src, err := lookup(ctx, c, from)
		if err != nil {
			return err
		}
		if !src.readOnly() || src.frozenSince().IsZero() {
			return fmt.Errorf("cannot catch up database %q with %q: %w (call Freeze first)", to, from, ErrNotFrozen)
		}
		dst, err := lookup(ctx, c, to)
		if err != nil {
			return err
		}
		if m, ours := dst.marker(); ours && m.Role == RoleCopy && m.Source == from && !m.CreatedAt.Before(src.frozenSince()) {
			res.Done = true
			return nil
		}
		m, ours := dst.marker()
		if !ours || m.Role != RoleReplica || m.Source != from {
			return fmt.Errorf("cannot catch up database %q: it is no replica of %q", to, from)
		}
		start := time.Now()
		if err := waitApplied(ctx, c, to, name, timeout); err != nil {
			return err
		}
		res.Waited = time.Since(start)
		if res.Sequences, err = syncSequences(ctx, admin, from, to); err != nil {
			return err
		}
		if m.CreatedAt, err = serverNow(ctx, c); err != nil {
			return err
		}
		m.Role = RoleCopy
		if err := postgres.CommentOnDatabase(ctx, c, to, m.Comment()); err != nil {
			return err
		}
		return nil
	})
	if err != nil || res.Done {
		return res, err
	}
	err = onDatabase(ctx, admin, to, func(tc *pgx.Conn) error {
		if err := disableSubscription(ctx, tc, name); err != nil {
			return err
		}
		return stopApplyWorker(ctx, tc, name)
	})
	if err != nil {
		return res, err
	}
	return res, Unfreeze(ctx, admin, to)
}

// waitApplied waits until the slot's confirmed position passes the
// source's WAL position now. The subscriber confirms only what it
// flushed, and a subscription commits asynchronously (flushed within
// wal_writer_delay): every few polls a synchronous commit of this session
// flushes the server's WAL, the apply worker's commits with it (the
// subscriber is the same server), so the catch-up waits for the apply,
// not for the WAL writer.
func waitApplied(ctx context.Context, c *pgx.Conn, to, name string, timeout time.Duration) error {
	var target string
	if err := c.QueryRow(ctx, "SELECT pg_catalog.pg_current_wal_lsn()::text").Scan(&target); err != nil {
		return fmt.Errorf("cannot read the WAL position: %w", err)
	}
	if _, err := c.Exec(ctx, "SET synchronous_commit = on"); err != nil {
		return fmt.Errorf("cannot wait for the catch-up: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for poll := 0; ; poll++ {
		var applied, enabled bool
		err := c.QueryRow(ctx, `SELECT coalesce((SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_catalog.pg_replication_slots WHERE slot_name = $1), false),
			coalesce((SELECT subenabled FROM pg_catalog.pg_subscription WHERE subname = $1), false)`, name, target).Scan(&applied, &enabled)
		switch {
		case err != nil:
			return fmt.Errorf("cannot read the progress of replication %s: %w", name, err)
		case applied:
			return nil
		case !enabled:
			return ErrReplicationStopped
		case time.Now().After(deadline):
			return fmt.Errorf("%w (%s, waiting for position %s)", ErrCatchUpTimeout, timeout, target)
		}
		if poll%5 == 0 {
			if _, err := c.Exec(ctx, "SELECT pg_catalog.txid_current()"); err != nil {
				return fmt.Errorf("cannot flush the WAL: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// syncSequences sets each sequence of to that from has too to from's
// value, so the next value to hands out is past any from handed out.
func syncSequences(ctx context.Context, admin postgres.Conn, from, to string) (int, error) {
	type seq struct {
		name string
		last int64
	}
	var seqs []seq
	err := onDatabase(ctx, admin, from, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT format('%I.%I', schemaname, sequencename), last_value
			FROM pg_catalog.pg_sequences WHERE last_value IS NOT NULL`)
		if err != nil {
			return err
		}
		seqs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (seq, error) {
			var s seq
			return s, r.Scan(&s.name, &s.last)
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cannot read the sequences of %q: %w", from, err)
	}
	n := 0
	err = onDatabase(ctx, admin, to, func(c *pgx.Conn) error {
		for _, s := range seqs {
			tag, err := c.Exec(ctx, `SELECT pg_catalog.setval(c.oid, $2, true) FROM pg_catalog.pg_class c
				WHERE c.relkind = 'S' AND c.oid = pg_catalog.to_regclass($1)`, s.name, s.last)
			if err != nil {
				return fmt.Errorf("cannot set sequence %s: %w", s.name, err)
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	return n, err
}

// stopApplyWorker ends the disabled subscription's apply worker and waits
// until its process is gone: it writes out its statistics (the rows it
// applied) on its way out, and the rows the next database counts from the
// switch on (writesSinceSwitch) must not include them. A backend that is
// gone is no longer signalled (pg_terminate_backend says false), which
// happens only after its statistics were written.
func stopApplyWorker(ctx context.Context, c *pgx.Conn, name string) error {
	rows, err := c.Query(ctx, "SELECT pid FROM pg_catalog.pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL", name)
	if err != nil {
		return fmt.Errorf("cannot find the workers of subscription %s: %w", name, err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("cannot find the workers of subscription %s: %w", name, err)
	}
	deadline := time.Now().Add(sessionTimeout)
	for _, pid := range pids {
		for {
			var signalled bool
			if err := c.QueryRow(ctx, "SELECT pg_catalog.pg_terminate_backend($1)", pid).Scan(&signalled); err != nil {
				return fmt.Errorf("cannot stop the apply worker of subscription %s: %w", name, err)
			}
			if !signalled {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the apply worker of subscription %s is still running after %s", name, sessionTimeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	return nil
}

func disableSubscription(ctx context.Context, c *pgx.Conn, name string) error {
	if _, err := c.Exec(ctx, "ALTER SUBSCRIPTION "+postgres.QuoteIdent(name)+" DISABLE"); err != nil && !isUndefinedObject(err) {
		return fmt.Errorf("cannot disable subscription %s: %w", name, err)
	}
	return nil
}

// DropReplication drops what makes to follow from: its subscription (in
// to, when to exists), the publication (in from, when from exists and
// takes connections: none is made while a Template copy keeps clients
// out) and the slot (waiting for its sender to let go). Nothing of it
// left behind pins from's WAL. Idempotent; from may be "" when unknown.
func DropReplication(ctx context.Context, admin postgres.Conn, from, to string) error {
	name := ReplicationName(to)
	return withAdmin(ctx, admin, func(c *pgx.Conn) error {
		subscribed, err := subscriptionExists(ctx, c, to, name)
		if err != nil {
			return err
		}
		if subscribed {
			if err := onDatabase(ctx, admin, to, func(tc *pgx.Conn) error { return dropSubscription(ctx, tc, name) }); err != nil {
				return err
			}
		}
		if from != "" {
			if src, err := lookup(ctx, c, from); err == nil && src.AllowConnections {
				if err := dropPublication(ctx, admin, from, name); err != nil {
					return err
				}
			} else if err != nil && !errors.Is(err, postgres.ErrNoDatabase) {
				return err
			}
		}
		return dropSlot(ctx, c, name)
	})
}

// dropSubscription drops the subscription name but not its slot (dropped
// by the caller: a subscription on the publisher's own server cannot).
func dropSubscription(ctx context.Context, c *pgx.Conn, name string) error {
	if err := disableSubscription(ctx, c, name); err != nil {
		return err
	}
	q := postgres.QuoteIdent(name)
	if _, err := c.Exec(ctx, "ALTER SUBSCRIPTION "+q+" SET (slot_name = NONE)"); err != nil && !isUndefinedObject(err) {
		return fmt.Errorf("cannot detach subscription %s from its slot: %w", name, err)
	}
	if _, err := c.Exec(ctx, "DROP SUBSCRIPTION IF EXISTS "+q); err != nil {
		return fmt.Errorf("cannot drop subscription %s: %w", name, err)
	}
	return nil
}

// dropSlot drops the slot name once no sender holds it (a disabled
// subscription's sender exits within moments).
func dropSlot(ctx context.Context, c *pgx.Conn, name string) error {
	deadline := time.Now().Add(sessionTimeout)
	for {
		var exists, active bool
		err := c.QueryRow(ctx, `SELECT count(*) > 0, coalesce(bool_or(active), false) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, name).Scan(&exists, &active)
		if err != nil {
			return fmt.Errorf("cannot read replication slot %s: %w", name, err)
		}
		if !exists {
			return nil
		}
		if !active {
			_, err := c.Exec(ctx, "SELECT pg_catalog.pg_drop_replication_slot($1)", name)
			if err == nil || isUndefinedObject(err) {
				return nil
			}
			if !isObjectInUse(err) {
				return fmt.Errorf("cannot drop replication slot %s: %w", name, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot drop replication slot %s: still in use after %s", name, sessionTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func dropPublication(ctx context.Context, admin postgres.Conn, from, name string) error {
	err := onDatabase(ctx, admin, from, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DROP PUBLICATION IF EXISTS "+postgres.QuoteIdent(name))
		return err
	})
	if errors.Is(err, postgres.ErrNoDatabase) || isInvalidCatalog(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot drop publication %s on %q: %w", name, from, err)
	}
	return nil
}
