package dbrelease

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// The replicated cutover: the next database of a schema-changing release
// follows the live one by PostgreSQL logical replication (a publication
// of every table on the live database, a slot made beforehand, as a
// subscription on the same server needs, and a subscription in the next
// database) while the live side keeps taking writes. The migration runs on
// it while it follows. Only the catch-up happens under the write freeze
// (CatchUp): wait until the next database applied everything live
// committed, bring its sequences past live's, mark it a complete copy.
// The objects are named by the next database (ReplicationName), so each
// step finds what an earlier, interrupted one made.

// RoleReplica marks a next database that follows its source by logical
// replication; like a copy being made it is unfinished (DropCopies drops
// a leftover one) until CatchUp marks it RoleCopy.
const RoleReplica = "replica"

// ErrCatchUpTimeout: the next database did not apply the frozen source's
// last writes in time; the caller unfreezes and gives up the release.
var ErrCatchUpTimeout = errors.New("the next database did not catch up with the frozen live database in time")

// ErrReplicationStopped: the subscription stopped on an apply error (it
// is made with disable_on_error); the server's log names the row.
var ErrReplicationStopped = errors.New("replication into the next database stopped on an apply error (the PostgreSQL server's log names the table and row)")

// ReplicationName names the publication, slot and subscription that make
// to a replica: "understudy_" and a hash of to, within 63 bytes and of the
// characters a slot name allows.
func ReplicationName(to string) string {
	sum := sha256.Sum256([]byte(to))
	return "understudy_" + hex.EncodeToString(sum[:8])
}

// ReplicaSpec says which database follows which.
type ReplicaSpec struct {
	// From is the live database; To the next one.
	From, To string
	// Base and Revision are recorded in To's marker, as for a copy.
	Base, Revision string
	// Publisher is how the server reaches From for the subscription: the
	// admin connection by default. Its password is stored in the
	// subscription (pg_subscription, readable by superusers only) until
	// CatchUp or DropReplication drops it.
	Publisher postgres.Conn
	// ScratchDir holds the schema dump ("" = os.TempDir).
	ScratchDir string
	// Stderr receives the messages of pg_dump and pg_restore.
	Stderr io.Writer
}

// Replicate makes To follow From and returns once every table's initial
// copy is done (the subscription then streams From's writes). It is
// idempotent: a replica whose subscription exists is only waited for; one
// without (interrupted before its subscription was made) is dropped and
// made again; any other To is an error and stays.
func Replicate(ctx context.Context, admin postgres.Conn, s ReplicaSpec) error {
	if s.From == "" || s.To == "" || s.From == s.To || s.Base == "" {
		return fmt.Errorf("cannot replicate database %q to %q: source, target and base are required and differ", s.From, s.To)
	}
	name := ReplicationName(s.To)
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		src, err := lookup(ctx, c, s.From)
		if err != nil {
			return fmt.Errorf("cannot replicate database %q: %w", s.From, err)
		}
		subscribed, err := subscriptionExists(ctx, c, s.To, name)
		if err != nil || subscribed {
			return err
		}
		if err := dropUnsubscribedReplica(ctx, c, s); err != nil {
			return err
		}
		m, err := recordCopy(ctx, c, CloneSpec{From: s.From, To: s.To, Base: s.Base, Revision: s.Revision}, RoleReplica)
		if err != nil {
			return err
		}
		if err := createLike(ctx, c, src, s.To, m.Comment()); err != nil {
			return err
		}
		if err := copySchema(ctx, admin, s); err != nil {
			return err
		}
		if err := postgres.CopyDatabaseGrants(ctx, c, s.From, s.To); err != nil {
			return err
		}
		if err := postgres.CopyDatabaseSettings(ctx, c, s.From, s.To, ownSetting); err != nil {
			return err
		}
		// The publication comes first: the slot decodes with the catalog
		// as of its creation, which must know it. A logical slot belongs
		// to the database it is made on.
		err = onDatabase(ctx, admin, s.From, func(fc *pgx.Conn) error {
			if err := ensurePublication(ctx, fc, name); err != nil {
				return err
			}
			return ensureSlot(ctx, fc, name)
		})
		if err != nil {
			return err
		}
		if err := onDatabase(ctx, admin, s.To, func(tc *pgx.Conn) error { return createSubscription(ctx, tc, name, s.Publisher.WithDatabase(s.From)) }); err != nil {
			return err
		}
		return finishCopy(ctx, c, s.From)
	})
	if err != nil {
		return err
	}
	return waitSynced(ctx, admin, s.To)
}

// dropUnsubscribedReplica drops what an interrupted Replicate left under
// To (a replica of this source made before its subscription); any other
// database there is refused.
func dropUnsubscribedReplica(ctx context.Context, c *pgx.Conn, s ReplicaSpec) error {
	dst, err := lookup(ctx, c, s.To)
	if errors.Is(err, postgres.ErrNoDatabase) {
		return nil
	}
	if err != nil {
		return err
	}
	src, err := lookup(ctx, c, s.From)
	if err != nil {
		return err
	}
	m, ours := dst.marker()
	switch {
	case ours && m.Role == RoleReplica && m.Source == s.From, ours && unfinished(m.Role), !ours && src.copyingTo() == s.To:
		return postgres.DropDatabase(ctx, c, s.To)
	case ours:
		return fmt.Errorf("cannot replicate database %q to %q: %w (%s of %q, revision %q): move it aside or drop it first",
			s.From, s.To, ErrStaleCopy, m.Role, m.Source, m.Revision)
	default:
		return fmt.Errorf("cannot replicate database %q to %q: %q exists: %w", s.From, s.To, s.To, ErrNotOurs)
	}
}

// copySchema restores From's schema, without data, publications or
// subscriptions, into the empty To.
func copySchema(ctx context.Context, admin postgres.Conn, s ReplicaSpec) error {
	dir, err := os.MkdirTemp(s.ScratchDir, "dbrelease-schema-")
	if err != nil {
		return fmt.Errorf("cannot create a scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "schema.dump")
	if err := runTool(ctx, "pg_dump", admin.WithDatabase(s.From), s.Stderr,
		"-Fc", "--schema-only", "--no-publications", "--no-subscriptions", "-f", path); err != nil {
		return err
	}
	return runTool(ctx, "pg_restore", admin.WithDatabase(s.To), s.Stderr,
		"--exit-on-error", "--no-tablespaces", "-d", s.To, path)
}

// onDatabase runs fn on an admin session on db that may write even while
// db is frozen (the next database is held read-only until the switch).
func onDatabase(ctx context.Context, admin postgres.Conn, db string, fn func(*pgx.Conn) error) error {
	c, err := postgres.Connect(ctx, admin.WithDatabase(db), Tool)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	if _, err := c.Exec(ctx, "SET default_transaction_read_only = off"); err != nil {
		return fmt.Errorf("cannot open a writing session on %q: %w", db, err)
	}
	return fn(c)
}

func ensureSlot(ctx context.Context, c *pgx.Conn, name string) error {
	_, err := c.Exec(ctx, `SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')
		WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`, name)
	if err != nil {
		return fmt.Errorf("cannot create replication slot %s: %w", name, err)
	}
	return nil
}

func ensurePublication(ctx context.Context, c *pgx.Conn, name string) error {
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1)", name).Scan(&exists); err != nil || exists {
		return err
	}
	if _, err := c.Exec(ctx, "CREATE PUBLICATION "+postgres.QuoteIdent(name)+" FOR ALL TABLES"); err != nil {
		return fmt.Errorf("cannot create publication %s: %w", name, err)
	}
	return nil
}

// createSubscription subscribes to the publication and slot of the same
// name, copying every table first; it disables itself on an apply error
// rather than retry it in a loop.
func createSubscription(ctx context.Context, c *pgx.Conn, name string, publisher postgres.Conn) error {
	_, err := c.Exec(ctx, "CREATE SUBSCRIPTION "+postgres.QuoteIdent(name)+" CONNECTION "+postgres.QuoteLiteral(publisher.ConnInfo())+
		" PUBLICATION "+postgres.QuoteIdent(name)+" WITH (create_slot = false, slot_name = "+postgres.QuoteLiteral(name)+", disable_on_error = true)")
	if err != nil {
		// The error text never carries the connection string.
		return fmt.Errorf("cannot create subscription %s: %w", name, err)
	}
	return nil
}

// subscriptionExists tells whether db has the subscription name.
func subscriptionExists(ctx context.Context, q postgres.Querier, db, name string) (bool, error) {
	var exists bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_subscription s
		JOIN pg_catalog.pg_database d ON d.oid = s.subdbid WHERE d.datname = $1 AND s.subname = $2)`, db, name).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("cannot look for subscription %s: %w", name, err)
	}
	return exists, nil
}

// syncPoll is how often the initial copy and the catch-up are looked at.
const syncPoll = 100 * time.Millisecond

// waitSynced waits until every table of To's subscription is copied and
// streaming (pg_subscription_rel state "r").
func waitSynced(ctx context.Context, admin postgres.Conn, to string) error {
	for {
		st, err := ReplicaStatus(ctx, admin, to)
		switch {
		case err != nil:
			return err
		case !st.Subscribed:
			return fmt.Errorf("database %q has no subscription of understudy's", to)
		case !st.Enabled:
			return ErrReplicationStopped
		case st.Synced:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(syncPoll):
		}
	}
}
