// Command refresh-runner is the program a DatabaseRefresh CronJob's pod
// runs: it restores the newest backup (or a live dump) into a side
// database next to the target, sanitises it, swaps it in by rename and
// reports a one-line JSON result to the termination message file and
// stdout. Credentials come only from the TARGET_*, SOURCE_* and S3_*
// environment variables; progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/internal/refresh"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

var (
	targetEnv = postgres.EnvNames{Host: refresh.EnvTargetHost, Port: refresh.EnvTargetPort, User: refresh.EnvTargetUser,
		Password: refresh.EnvTargetPassword, SSLMode: refresh.EnvTargetSSLMode}
	sourceEnv = postgres.EnvNames{Host: refresh.EnvSourceHost, Port: refresh.EnvSourcePort, User: refresh.EnvSourceUser,
		Password: refresh.EnvSourcePassword, SSLMode: refresh.EnvSourceSSLMode}
)

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refresh-runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o refresh.Options
	terminationLog := "/dev/termination-log"
	fs.StringVar(&o.TargetDB, "target-db", "", "database to refresh (required)")
	fs.StringVar(&o.Owner, "owner", "", "role that owns the restored objects and the new database")
	fs.IntVar(&o.KeepPrevious, "keep-previous", 1, "previous copies to keep")
	fs.IntVar(&o.Jobs, "jobs", 2, "parallel jobs of pg_dump, pg_restore and ANALYZE")
	fs.StringVar(&o.BackupDir, "backup-dir", "", "directory holding the backups")
	fs.StringVar(&o.Pattern, "pattern", "", "glob of the backup file names; the newest match is restored")
	fs.StringVar(&o.SourceDB, "source-db", "", "live source database to dump (connection from SOURCE_* variables)")
	var s3o refresh.S3Options
	fs.StringVar(&s3o.Endpoint, "s3-endpoint", "", "URL of the S3 API holding the backups")
	fs.StringVar(&s3o.Region, "s3-region", "us-east-1", "region of the bucket")
	fs.StringVar(&s3o.Bucket, "s3-bucket", "", "bucket holding the backups (access key from S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY)")
	fs.StringVar(&s3o.Prefix, "s3-prefix", "", "key prefix of the backups in the bucket")
	fs.BoolVar(&s3o.PathStyle, "s3-path-style", false, "address the bucket as <endpoint>/<bucket>")
	var pgbr refresh.PgBackRestOptions
	pgbrTarget := timeFlag{}
	pgbrOpts := optionFlag{}
	fs.StringVar(&pgbr.Stanza, "pgbackrest-stanza", "", "pgBackRest stanza to copy one database from (repository: --pgbackrest-repo-path, or the --s3-* flags)")
	fs.StringVar(&pgbr.Database, "pgbackrest-db", "", "database of the pgBackRest backup to copy")
	fs.StringVar(&pgbr.RepoPath, "pgbackrest-repo-path", "", "directory of the pgBackRest repository")
	fs.StringVar(&pgbr.Set, "pgbackrest-set", "", "label of the backup to restore (default: the newest)")
	fs.Var(&pgbrTarget, "pgbackrest-target-time", "RFC 3339 time to recover to (default: the end of the backup)")
	fs.StringVar(&pgbr.Role, "pgbackrest-role", "postgres", "superuser of the backed-up cluster the dump runs as")
	fs.Var(pgbrOpts, "pgbackrest-option", "further pgBackRest option as name=value (repeatable)")
	fs.StringVar(&o.SanitizeDir, "sanitize-dir", "", "directory of *.sql files run on the copy in file-name order")
	fs.StringVar(&o.MaskingFile, "masking", "", "column policy (JSON) compared with the copy and applied after the sanitize files")
	fs.StringVar(&o.ScratchDir, "scratch-dir", "/scratch", "directory for live dumps")
	fs.StringVar(&terminationLog, "termination-log", terminationLog, "file the JSON result is written to")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	o.Log, o.Stderr = log, stderr
	if s3o.Bucket != "" {
		s3o.AccessKeyID, s3o.SecretAccessKey = getenv(refresh.EnvS3AccessKeyID), getenv(refresh.EnvS3SecretAccessKey)
		o.S3 = &s3o
	}
	if pgbr.Stanza != "" {
		// A bucket given with a stanza holds the pgBackRest repository.
		pgbr.S3, o.S3 = o.S3, nil
		pgbr.TargetTime, pgbr.Options = pgbrTarget.t, pgbrOpts
		o.PgBackRest = &pgbr
	}

	res := refresh.Result{Target: o.TargetDB}
	var err error
	if o.Target, err = postgres.FromEnv(getenv, targetEnv); err != nil {
		res.Result, res.Error = refresh.Failed, fmt.Sprintf("cannot read the target connection: %v", err)
	} else if o.SourceDB != "" {
		if o.Source, err = postgres.FromEnv(getenv, sourceEnv); err != nil {
			res.Result, res.Error = refresh.Failed, fmt.Sprintf("cannot read the source connection: %v", err)
		}
	}
	if res.Result == "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		res = refresh.Run(ctx, o)
		stop()
	} else {
		log.Error("refresh failed", "error", res.Error)
	}
	report(res, terminationLog, stdout, log)
	if res.Result != refresh.Succeeded {
		return 1
	}
	return 0
}

// report writes the one-line JSON result to the termination message file
// (if it can) and to stdout.
func report(res refresh.Result, path string, stdout io.Writer, log *slog.Logger) {
	line, err := json.Marshal(res)
	if err != nil {
		line = []byte(`{"result":"Failed","error":"cannot encode the result"}`)
	}
	line = append(line, '\n')
	if path != "" {
		if err := os.WriteFile(path, line, 0o644); err != nil {
			log.Warn("cannot write the termination message; stdout has the result", "path", path, "error", err)
		}
	}
	_, _ = stdout.Write(line)
}

// timeFlag is an optional RFC 3339 time.
type timeFlag struct{ t *time.Time }

func (f *timeFlag) String() string {
	if f == nil || f.t == nil {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("not an RFC 3339 time: %w", err)
	}
	f.t = &t
	return nil
}

// optionFlag collects name=value pairs.
type optionFlag map[string]string

func (f optionFlag) String() string { return fmt.Sprint(map[string]string(f)) }

func (f optionFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not name=value", v)
	}
	f[k] = val
	return nil
}
