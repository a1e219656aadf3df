package dbrelease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/dbstate"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// Method is how a color's database is copied.
type Method string

const (
	// Dump copies with pg_dump -Fd -j N into a scratch directory and
	// pg_restore -j N; clients keep reading the frozen source throughout.
	Dump Method = "Dump"
	// Template copies with CREATE DATABASE ... TEMPLATE: the fastest, but
	// the source refuses connections while it runs.
	Template Method = "Template"
)

// Errors a caller decides on.
var (
	// ErrNotFrozen: Clone copies only a source frozen by Freeze, so that
	// no acknowledged write can be missing from the copy.
	ErrNotFrozen = errors.New("the source database is not frozen")
	// ErrNotOurs: the database exists and carries no marker of this
	// package; it is never overwritten nor dropped.
	ErrNotOurs = errors.New("the database was not made by understudy")
	// ErrStaleCopy: the target is a complete copy of something else (another
	// source or revision, or made before the source's current freeze).
	ErrStaleCopy = errors.New("the target is a complete copy made for another release")
)

// CloneSpec says what to copy where.
type CloneSpec struct {
	Method Method
	// From is the frozen source database, To the copy.
	From, To string
	// Base is the SiteDeployment's base database name, recorded in the
	// marker (For) so DropCopies finds the copy.
	Base string
	// Revision is the schema revision the copy is made for.
	Revision string
	// Rehearsal copies a source that keeps taking writes, from the
	// consistent snapshot pg_dump takes (Method must be Dump: a Template
	// copy would end its clients' sessions), and marks the copy
	// RoleRehearsal: a rehearsal of a release, never its final copy.
	Rehearsal bool
	// Jobs is the number of parallel pg_dump and pg_restore jobs (Dump);
	// less than 1 means 2.
	Jobs int
	// ScratchDir holds the directory dump while copying ("" = os.TempDir).
	ScratchDir string
	// Stderr receives the messages of pg_dump and pg_restore (nil: none);
	// the last of them go into a returned error anyway.
	Stderr io.Writer
}

// CloneResult says what Clone did.
type CloneResult struct {
	// Reused: the copy was already complete; nothing was copied.
	Reused bool
	// Redone: an incomplete copy was dropped and made again.
	Redone bool
	// FrozenSince is the source's freeze time.
	FrozenSince time.Time
	// Took is how long this call's copy took.
	Took time.Duration
	// Disconnected is how long the source refused connections (Template).
	Disconnected time.Duration
}

// Clone copies the frozen database From into To and marks To as a complete
// copy (marker role "copy", Source From, Revision) only at the very end; a
// Rehearsal copies a live From (marker role "rehearsal").
// It is idempotent: a complete copy of the same source and revision made
// during the source's current freeze is reused; a half-done copy (marker
// role "copying", or created but not yet marked) is dropped and redone; any
// other existing To is an error and is left alone.
//
// Template ends the source's sessions, refuses new ones while CREATE
// DATABASE ... TEMPLATE runs (reported as Disconnected) and lets them in
// again; Dump runs pg_dump -Fd -j N and pg_restore -j N with the owners and
// privileges of the source. Both give To the source's database-level
// privileges and database-wide settings (ALTER DATABASE ... SET, also per
// role), but not the freeze: the copy is writable for the migration.
func Clone(ctx context.Context, admin postgres.Conn, s CloneSpec) (CloneResult, error) {
	var res CloneResult
	if err := s.check(); err != nil {
		return res, err
	}
	if s.Jobs < 1 {
		s.Jobs = 2
	}
	err := withAdmin(ctx, admin, func(c *pgx.Conn) error {
		src, err := lookup(ctx, c, s.From)
		if err != nil {
			return fmt.Errorf("cannot copy database %q: %w", s.From, err)
		}
		res.FrozenSince = src.frozenSince()
		if !s.Rehearsal && (!src.readOnly() || res.FrozenSince.IsZero()) {
			return fmt.Errorf("cannot copy database %q: %w (call Freeze first)", s.From, ErrNotFrozen)
		}
		done, prepared, err := prepareTarget(ctx, c, src, s, &res)
		if err != nil || done {
			return err
		}
		m, err := recordCopy(ctx, c, s, RoleCopying)
		if err != nil {
			return err
		}
		start := time.Now()
		if s.Method == Template {
			err = copyByTemplate(ctx, c, src, s, &res)
		} else {
			err = copyByDump(ctx, c, admin, src, s, m, prepared)
		}
		if err == nil {
			err = postgres.CopyDatabaseGrants(ctx, c, s.From, s.To)
		}
		if err == nil {
			err = postgres.CopyDatabaseSettings(ctx, c, s.From, s.To, ownSetting)
		}
		if err == nil {
			m.Role = RoleCopy
			if s.Rehearsal {
				m.Role = RoleRehearsal
			}
			err = postgres.CommentOnDatabase(ctx, c, s.To, m.Comment())
		}
		if err != nil {
			dropHalfCopy(ctx, admin, s.To)
			return fmt.Errorf("cannot copy database %q to %q: %w", s.From, s.To, err)
		}
		res.Took = time.Since(start)
		return finishCopy(ctx, c, s.From)
	})
	return res, err
}

func (s CloneSpec) check() error {
	if s.Method != Dump && s.Method != Template {
		return fmt.Errorf("cannot copy database %q: unknown method %q (want Dump or Template)", s.From, s.Method)
	}
	if s.From == "" || s.To == "" || s.From == s.To || s.Base == "" {
		return fmt.Errorf("cannot copy database %q to %q: source, target and base are required and differ", s.From, s.To)
	}
	for _, name := range []string{s.From, s.To} {
		if len(name) > maxNameLen { // PostgreSQL would truncate it silently
			return fmt.Errorf("cannot copy database %q to %q: %q is longer than %d bytes", s.From, s.To, name, maxNameLen)
		}
	}
	if s.Rehearsal && s.Method != Dump {
		return fmt.Errorf("cannot copy database %q for a rehearsal with method %q: only Dump copies a database that keeps its clients", s.From, s.Method)
	}
	return nil
}

// PrepareCopy creates To empty, as the Dump copy of s would, while From
// still takes writes, so that the Clone under the freeze that follows
// restores into it instead of creating it inside the window writes are
// refused (CREATE DATABASE writes its template to WAL, and before
// PostgreSQL 15 checkpoints twice). It records the copy intent on From
// first, as Clone does, and marks To RolePrepared. It does nothing for a
// Template copy or a rehearsal, nor when To exists: Clone then decides
// what To is.
func PrepareCopy(ctx context.Context, admin postgres.Conn, s CloneSpec) (prepared bool, err error) {
	if err := s.check(); err != nil || s.Method != Dump || s.Rehearsal {
		return false, err
	}
	err = withAdmin(ctx, admin, func(c *pgx.Conn) error {
		if _, err := lookup(ctx, c, s.To); !errors.Is(err, postgres.ErrNoDatabase) {
			return err
		}
		src, err := lookup(ctx, c, s.From)
		if err != nil {
			return fmt.Errorf("cannot prepare a copy of database %q: %w", s.From, err)
		}
		m, err := recordCopy(ctx, c, s, RolePrepared)
		if err != nil {
			return err
		}
		if err := createLike(ctx, c, src, s.To, m.Comment()); err != nil {
			return err
		}
		prepared = true
		return nil
	})
	return prepared, err
}

// recordCopy records the copy intent on From (a database created under To
// before it is marked is then known as the copy's) and returns the marker
// To gets, with role and the server's time.
func recordCopy(ctx context.Context, c *pgx.Conn, s CloneSpec, role string) (postgres.Marker, error) {
	if err := setSetting(ctx, c, s.From, settingCopyingTo, s.To); err != nil {
		return postgres.Marker{}, fmt.Errorf("cannot record the copy of %q to %q: %w", s.From, s.To, err)
	}
	now, err := serverNow(ctx, c)
	if err != nil {
		return postgres.Marker{}, err
	}
	return postgres.Marker{Tool: Tool, Role: role, For: s.Base, Source: s.From, Revision: s.Revision, CreatedAt: now}, nil
}

// ownSetting tells the settings this package keeps its state in, which a
// copy must not inherit.
func ownSetting(name string) bool {
	return name == settingReadOnly || strings.HasPrefix(name, "understudy.")
}

// prepareTarget looks at To: done when it is already the wanted copy;
// prepared when PrepareCopy made it empty for this copy; a half-done copy
// (or one prepared for another) is dropped.
func prepareTarget(ctx context.Context, c *pgx.Conn, src dbInfo, s CloneSpec, res *CloneResult) (done, prepared bool, err error) {
	dst, err := lookup(ctx, c, s.To)
	if errors.Is(err, postgres.ErrNoDatabase) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	m, ours := dst.marker()
	same := ours && m.Source == s.From && m.Revision == s.Revision
	switch {
	case same && m.Role == RoleCopy && !m.CreatedAt.Before(res.FrozenSince) && !s.Rehearsal,
		same && m.Role == RoleRehearsal && s.Rehearsal:
		res.Reused = true
		return true, false, finishCopy(ctx, c, s.From)
	case same && m.Role == RolePrepared && s.Method == Dump && !s.Rehearsal:
		return false, true, nil
	case ours && dbstate.UnfinishedRole(m.Role), !ours && src.copyingTo() == s.To:
		// Interrupted: either marked incomplete, or created by the copy
		// the source records but not yet marked.
		if err := postgres.DropDatabase(ctx, c, s.To); err != nil {
			return false, false, err
		}
		res.Redone = true
		return false, false, nil
	case ours:
		return false, false, fmt.Errorf("cannot copy database %q to %q: %w (%s of %q, revision %q, made %s): move it aside or drop it first",
			s.From, s.To, ErrStaleCopy, m.Role, m.Source, m.Revision, m.CreatedAt.Format(time.RFC3339))
	default:
		return false, false, fmt.Errorf("cannot copy database %q to %q: %q exists: %w", s.From, s.To, s.To, ErrNotOurs)
	}
}

// finishCopy lets clients into the source again (if a Template copy was
// interrupted) and clears the copy intent.
func finishCopy(ctx context.Context, c *pgx.Conn, from string) error {
	src, err := lookup(ctx, c, from)
	if err != nil {
		return err
	}
	if err := letClientsIn(ctx, c, src); err != nil {
		return err
	}
	if src.copyingTo() == "" {
		return nil
	}
	return setSetting(ctx, c, from, settingCopyingTo, "")
}

// dropHalfCopy drops a failed copy on a fresh session (the caller's may be
// broken or its context cancelled) and clears the intent; a failure here
// is repaired by the next Clone, which redoes the copy.
func dropHalfCopy(ctx context.Context, admin postgres.Conn, to string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = DropCopy(cctx, admin, to)
}

// copyByTemplate runs CREATE DATABASE To TEMPLATE From with the source's
// sessions ended and new ones refused, retrying when one slipped in.
func copyByTemplate(ctx context.Context, c *pgx.Conn, src dbInfo, s CloneSpec, res *CloneResult) error {
	blocked := time.Now()
	if err := postgres.SetAllowConnections(ctx, c, s.From, false); err != nil {
		return err
	}
	defer func() {
		// Clients come back whatever happened; a crash before this line
		// is repaired by Clone, Unfreeze or DropCopy (the intent is set).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = postgres.SetAllowConnections(cctx, c, s.From, true)
	}()
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if _, err = postgres.TerminateSessions(ctx, c, s.From); err != nil {
			return err
		}
		if _, err = postgres.WaitNoSessions(ctx, c, s.From, 5*time.Second); err != nil {
			return err
		}
		err = postgres.CreateDatabase(ctx, c, s.To, "", postgres.CreateOptions{Owner: src.Owner, Template: s.From})
		if err == nil || !isObjectInUse(err) {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := postgres.SetAllowConnections(ctx, c, s.From, true); err != nil {
		return err
	}
	res.Disconnected = time.Since(blocked)
	return nil
}
