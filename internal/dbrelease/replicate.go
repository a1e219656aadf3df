package dbrelease

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understudy-dev/understudy/internal/dbstate"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// The replicated cutover: the next database of a schema-changing release
// follows the live one by PostgreSQL logical replication (a publication
// of every table on the live database, a slot made beforehand, as a
// subscription on the same server needs, and a subscription in the next
// database) while the live side keeps taking writes. Its first copy is a
// parallel pg_dump of the snapshot the slot exports as it is made, so the
// subscription streams exactly what came after (and no table is
// synchronised by the subscription's own workers, each of which would
// hold a replication origin). The migration runs on it while it follows.
// Only the catch-up happens under the write freeze (CatchUp): wait until
// the next database applied everything live committed, bring its
// sequences past live's, mark it a complete copy. The objects are named by
// the next database (ReplicationName), so each step finds what an earlier,
// interrupted one made.

// ErrCatchUpTimeout: the next database did not apply the frozen source's
// last writes in time; the caller unfreezes and gives up the release.
var ErrCatchUpTimeout = errors.New("the next database did not catch up with the frozen live database in time")

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
	// Jobs is the number of parallel pg_dump and pg_restore jobs of the
	// first copy; less than 1 means 2.
	Jobs int
	// ScratchDir holds the dump of the first copy ("" = os.TempDir).
	ScratchDir string
	// Stderr receives the messages of pg_dump and pg_restore.
	Stderr io.Writer
}

// Replicate makes To a copy of From that follows it: the publication, then
// the slot with its exported snapshot (on a replication connection held
// until the copy is done), a parallel dump of that snapshot restored into
// To, then the subscription, streaming from the slot (no copy of its
// own). It is idempotent: a replica whose subscription exists is left as
// it is; one without (interrupted before its subscription) is dropped with
// its slot, whose snapshot is gone, and made again; any other To is an
// error and stays.
func Replicate(ctx context.Context, admin postgres.Conn, s ReplicaSpec) error {
	if s.From == "" || s.To == "" || s.From == s.To || s.Base == "" {
		return fmt.Errorf("cannot replicate database %q to %q: source, target and base are required and differ", s.From, s.To)
	}
	if s.Jobs < 1 {
		s.Jobs = 2
	}
	name := ReplicationName(s.To)
	return withAdmin(ctx, admin, func(c *pgx.Conn) error {
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
		if err := dropSlot(ctx, c, name); err != nil {
			return err
		}
		m, err := recordCopy(ctx, c, CloneSpec{From: s.From, To: s.To, Base: s.Base, Revision: s.Revision}, RoleReplica)
		if err != nil {
			return err
		}
		if err := createLike(ctx, c, src, s.To, m.Comment()); err != nil {
			return err
		}
		// The publication comes first: the slot decodes with the catalog
		// as of its creation, which must know it.
		if err := onDatabase(ctx, admin, s.From, func(fc *pgx.Conn) error { return ensurePublication(ctx, fc, name) }); err != nil {
			return err
		}
		if err := copyAtSlot(ctx, admin, s, name); err != nil {
			return err
		}
		if err := postgres.CopyDatabaseGrants(ctx, c, s.From, s.To); err != nil {
			return err
		}
		if err := postgres.CopyDatabaseSettings(ctx, c, s.From, s.To, ownSetting); err != nil {
			return err
		}
		if err := onDatabase(ctx, admin, s.To, func(tc *pgx.Conn) error { return createSubscription(ctx, tc, name, s.Publisher.WithDatabase(s.From)) }); err != nil {
			return err
		}
		return finishCopy(ctx, c, s.From)
	})
}

// copyAtSlot makes the logical slot name on From (a slot belongs to the
// database it is made on) on a replication connection, and copies From as
// of the snapshot it exports into To while that connection holds it.
func copyAtSlot(ctx context.Context, admin postgres.Conn, s ReplicaSpec, name string) error {
	cfg, err := admin.WithDatabase(s.From).Config(Tool)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["replication"] = "database"
	rc, err := pgconn.ConnectConfig(ctx, &cfg.Config)
	if err != nil {
		return fmt.Errorf("cannot open a replication connection to %q: %w", s.From, err)
	}
	defer func() { _ = rc.Close(context.WithoutCancel(ctx)) }()
	res, err := rc.Exec(ctx, "CREATE_REPLICATION_SLOT "+postgres.QuoteIdent(name)+" LOGICAL pgoutput EXPORT_SNAPSHOT").ReadAll()
	if err != nil {
		return fmt.Errorf("cannot create replication slot %s: %w", name, err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 3 {
		return fmt.Errorf("cannot create replication slot %s: unexpected answer", name)
	}
	snapshot := string(res[0].Rows[0][2])
	return dumpRestore(ctx, admin, s.From, s.To, s.ScratchDir, s.Jobs, s.Stderr,
		"--snapshot="+snapshot, "--no-publications", "--no-subscriptions")
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
	case ours && m.Role == RoleReplica && m.Source == s.From, ours && dbstate.UnfinishedRole(m.Role), !ours && src.copyingTo() == s.To:
		return postgres.DropDatabase(ctx, c, s.To)
	case ours:
		return fmt.Errorf("cannot replicate database %q to %q: %w (%s of %q, revision %q): move it aside or drop it first",
			s.From, s.To, ErrStaleCopy, m.Role, m.Source, m.Revision)
	default:
		return fmt.Errorf("cannot replicate database %q to %q: %q exists: %w", s.From, s.To, s.To, ErrNotOurs)
	}
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
// name, streaming from the slot (the tables were copied at its snapshot);
// it disables itself on an apply error rather than retry it in a loop.
func createSubscription(ctx context.Context, c *pgx.Conn, name string, publisher postgres.Conn) error {
	_, err := c.Exec(ctx, "CREATE SUBSCRIPTION "+postgres.QuoteIdent(name)+" CONNECTION "+postgres.QuoteLiteral(publisher.ConnInfo())+
		" PUBLICATION "+postgres.QuoteIdent(name)+" WITH (create_slot = false, slot_name = "+postgres.QuoteLiteral(name)+", copy_data = false, disable_on_error = true)")
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
