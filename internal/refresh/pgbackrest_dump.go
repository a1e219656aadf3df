package refresh

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/understudy-dev/understudy/internal/refreshwire"
)

// pgbackrestDump restores only the wanted database of a pgBackRest backup
// into a throwaway instance on the scratch volume (--db-include), recovers
// it to consistency or the target time, dumps it with pg_dump -Fd -j and
// removes the instance: the dump is then restored like a directory-format
// backup. Nothing reaches the target server before the dump is whole.
func (r *run) pgbackrestDump(ctx context.Context) (*dump, error) {
	work, err := scratchDir(r.o.ScratchDir, "pgbackrest-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { _ = os.RemoveAll(work) }
	d, err := r.pgbackrestDumpIn(ctx, work)
	if err != nil {
		cleanup()
		return nil, err
	}
	d.cleanup = cleanup
	return d, nil
}

func (r *run) pgbackrestDumpIn(ctx context.Context, work string) (*dump, error) {
	p := r.o.PgBackRest
	u, err := instanceUser()
	if err != nil {
		return nil, err
	}
	in := &instance{work: work, user: u, jobs: r.o.Jobs, env: append(withoutPG(r.o.Env), p.env(work)...)}
	if err := in.prepare(); err != nil {
		return nil, err
	}
	b, err := r.pickPhysicalBackup(ctx, in)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("database %q of backup %s (stanza %q)", p.Database, b.Label, p.Stanza)
	t := time.Now()
	r.log.Info("restoring from pgBackRest", "stanza", p.Stanza, "backup", b.Label, "database", p.Database, "targetTime", p.TargetTime)
	if err := r.pgbackrest(ctx, in, nil, restoreArgs(in, p, b.Label)...); err != nil {
		return nil, fmt.Errorf("cannot restore %s: %w", what, err)
	}
	r.step("pgbackrestRestore", t)

	t = time.Now()
	if err := in.start(r.o.Stderr); err != nil {
		return nil, err
	}
	defer in.stop()
	if err := in.waitRecovered(ctx, p.Role, p.Database); err != nil {
		return nil, fmt.Errorf("cannot recover %s: %w", what, err)
	}
	r.step("recover", t)

	t = time.Now()
	path := filepath.Join(work, "dump")
	r.log.Info("dumping the recovered database", "database", p.Database, "jobs", r.o.Jobs, "path", path)
	// Uncompressed: the dump lives on local scratch for minutes, and gzip
	// would cost CPU twice (pg_dump, then pg_restore) on the runner's cores.
	if err := r.tool(ctx, "pg_dump", in.conn(p.Role, p.Database), nil, nil, "-Fd", "-Z0", "-j", fmt.Sprint(r.o.Jobs), "-f", path); err != nil {
		return nil, fmt.Errorf("cannot dump %s from the recovered instance: %w", what, err)
	}
	r.step("dump", t)
	in.stop()
	// The instance's files are no longer needed: free the scratch volume
	// for the restore.
	_ = os.RemoveAll(in.data())

	taken := r.res.Backup.StoppedAt
	if p.TargetTime != nil {
		taken = *p.TargetTime
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot find the dump pg_dump wrote: %w", err)
	}
	return &dump{path: path, format: formatDirectory, source: "pgbackrest " + p.Stanza + "/" + b.Label + " database " + p.Database,
		bytes: sizeOf(path, info), takenAt: taken}, nil
}

// pickPhysicalBackup reads the repository's info and picks the backup,
// recording it in the result (also when a later step fails on it).
func (r *run) pickPhysicalBackup(ctx context.Context, in *instance) (pgbrBackup, error) {
	p := r.o.PgBackRest
	var out bytes.Buffer
	if err := r.pgbackrest(ctx, in, &out, "info", "--output=json"); err != nil {
		return pgbrBackup{}, fmt.Errorf("cannot read the pgBackRest repository: %w", err)
	}
	backups, err := parseInfo(out.Bytes(), p.Stanza)
	if err != nil {
		return pgbrBackup{}, err
	}
	b, err := pickBackup(backups, p.Set, p.TargetTime)
	if err != nil {
		return pgbrBackup{}, fmt.Errorf("stanza %q: %w", p.Stanza, err)
	}
	r.res.Backup = &refreshwire.PhysicalBackup{
		Stanza: p.Stanza, Label: b.Label, Type: b.Type, StartLSN: b.LSN.Start, StopLSN: b.LSN.Stop,
		StartedAt: time.Unix(b.Timestamp.Start, 0).UTC(), StoppedAt: time.Unix(b.Timestamp.Stop, 0).UTC(),
	}
	if p.TargetTime != nil {
		tt := p.TargetTime.UTC()
		r.res.Backup.TargetTime = &tt
	}
	return b, nil
}

// restoreArgs restores only the wanted database (the others' files become
// empty sparse files pgBackRest marks as zeroed) and has recovery promote
// the instance once it reaches its target.
func restoreArgs(in *instance, p *PgBackRestOptions, label string) []string {
	args := []string{"restore", "--pg1-path=" + in.data(), "--db-include=" + p.Database, "--set=" + label,
		"--target-action=promote", "--tablespace-map-all=" + filepath.Join(in.work, "tablespaces")}
	if p.TargetTime == nil {
		return append(args, "--type=immediate")
	}
	return append(args, "--type=time", "--target="+p.TargetTime.UTC().Format("2006-01-02 15:04:05.000000+00"))
}

// withoutPG drops PG* variables: the instance and pgBackRest must not
// follow a PGHOST or PGDATA meant for something else.
func withoutPG(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PG") {
			out = append(out, kv)
		}
	}
	return out
}
