package refresh

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// MaxTargetNameBytes is the longest target database name: the previous
// copies' names (<target>_prev_<YYYYMMDDhhmmss>) must fit PostgreSQL's 63
// bytes.
const MaxTargetNameBytes = 43

// Tool is the marker prefix of the databases the runner creates and the
// application_name of its sessions.
const Tool = "understudy-refresh"

// Options is one refresh, as the command's flags and environment give it.
type Options struct {
	// TargetDB is the database to refresh (--target-db).
	TargetDB string
	// Owner, if set, owns the restored objects and the new database
	// (--owner). The target user must be a member of it.
	Owner string
	// KeepPrevious is how many previous copies to keep (--keep-previous).
	KeepPrevious int
	// Jobs is the parallelism of pg_dump, pg_restore and ANALYZE (--jobs).
	Jobs int
	// BackupDir and Pattern select the newest matching backup
	// (--backup-dir, --pattern); or SourceDB names a live database to dump
	// (--source-db).
	BackupDir, Pattern string
	SourceDB           string
	// S3, if set, is the bucket the newest backup matching Pattern is
	// fetched from (--s3-* flags, S3_* variables for the access key).
	S3 *S3Options
	// PgBackRest, if set, is the pgBackRest backup one database is copied
	// from (--pgbackrest-* flags; a repository in S3 takes the --s3-*
	// flags and S3_* variables).
	PgBackRest *PgBackRestOptions
	// SanitizeDir holds *.sql files run on the copy in file-name order,
	// each in its own transaction (--sanitize-dir).
	SanitizeDir string
	// MaskingFile is the column policy (JSON, internal/masking.Policy)
	// compared with the copy and applied after the sanitize files
	// (--masking); empty: no policy.
	MaskingFile string
	// ScratchDir receives live dumps, downloads and the throwaway
	// instance of a physical backup (--scratch-dir).
	ScratchDir string

	// Target is the target server (TARGET_* variables); its Database is
	// ignored. Source is the live source server (SOURCE_* variables).
	Target, Source postgres.Conn

	// Log receives progress lines; nil discards them.
	Log *slog.Logger
	// Stderr receives the PostgreSQL programs' messages; nil discards them.
	Stderr io.Writer
	// Env is the environment the PostgreSQL programs start from; nil means
	// this process's environment without the runner's credential variables.
	Env []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Env == nil {
		o.Env = childBaseEnv(os.Environ())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jobs < 1 {
		o.Jobs = 1
	}
	if o.ScratchDir == "" {
		o.ScratchDir = "/scratch"
	}
}

// validate reports the first mistake in the options, worded for the person
// who wrote the DatabaseRefresh.
func (o *Options) validate() error {
	switch {
	case o.TargetDB == "":
		return errors.New("no target database: --target-db is required")
	case len(o.TargetDB) > MaxTargetNameBytes:
		return fmt.Errorf("target database name %q is %d bytes, longer than %d: previous copies could not be named", o.TargetDB, len(o.TargetDB), MaxTargetNameBytes)
	case o.KeepPrevious < 0:
		return fmt.Errorf("--keep-previous is %d: it must be 0 or more", o.KeepPrevious)
	case sources(o.BackupDir != "", o.SourceDB != "", o.S3 != nil, o.PgBackRest != nil) != 1:
		return errors.New("give exactly one source: --backup-dir with --pattern, --s3-bucket with --pattern, --pgbackrest-stanza, or --source-db")
	case o.PgBackRest != nil:
		return o.PgBackRest.validate()
	case o.S3 != nil:
		return o.S3.validate(o.Pattern)
	case o.BackupDir != "" && o.Pattern == "":
		return errors.New("--backup-dir needs --pattern")
	case o.BackupDir != "":
		if _, err := filepath.Match(o.Pattern, ""); err != nil {
			return fmt.Errorf("--pattern %q is not a valid glob: %w", o.Pattern, err)
		}
	case o.SourceDB != "" && postgres.SameDatabase(o.Source.WithDatabase(o.SourceDB), o.Target.WithDatabase(o.TargetDB)):
		return fmt.Errorf("refusing to refresh database %q from itself: the source and the target are the same server (%s:%d) and database name", o.TargetDB, o.Target.Host, o.Target.Port)
	}
	return nil
}

// sideName is the database a refresh restores into before the swap.
func (o *Options) sideName() string { return o.TargetDB + "_refresh" }

// previousName is the name the current target is kept under.
func (o *Options) previousName(t time.Time) string {
	return o.TargetDB + "_prev_" + t.UTC().Format("20060102150405")
}

// childBaseEnv drops the runner's own credential variables, which the
// PostgreSQL programs have no use for; they get what they need as PG*.
func childBaseEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, "TARGET_") || strings.HasPrefix(kv, "SOURCE_") || strings.HasPrefix(kv, "S3_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// sources counts the sources given.
func sources(given ...bool) int {
	n := 0
	for _, g := range given {
		if g {
			n++
		}
	}
	return n
}
