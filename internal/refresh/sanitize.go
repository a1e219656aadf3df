package refresh

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// sanitizeFiles lists the *.sql files of dir in lexical file-name order,
// following symlinks (a ConfigMap volume's files are symlinks).
func sanitizeFiles(dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("cannot read the sanitize directory: %w", err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.sql")) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("cannot list the sanitize directory %s: %w", dir, err)
	}
	var files []string
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			files = append(files, p)
		}
	}
	return files, nil
}

// sanitize runs every sanitize file on the side database, each in its own
// transaction, stopping at the first error.
func (r *run) sanitize(ctx context.Context, files []string) error {
	if len(files) == 0 {
		return nil
	}
	side := r.o.Target.WithDatabase(r.o.sideName())
	t := time.Now()
	defer r.step("sanitize", t)
	for _, f := range files {
		r.log.Info("sanitizing", "file", filepath.Base(f))
		err := r.toolAs(ctx, "psql", side, r.o.Owner, nil, nil,
			"-X", "-q", "-o", os.DevNull, "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", side.Database, "-f", f)
		if err != nil {
			return fmt.Errorf("cannot apply sanitize file %s: %w", filepath.Base(f), err)
		}
	}
	return nil
}

// analyze gathers planner statistics on the side database, so the copy is
// fast from its first query (pg_restore does not analyze).
func (r *run) analyze(ctx context.Context) error {
	side := r.o.Target.WithDatabase(r.o.sideName())
	r.log.Info("analyzing", "database", side.Database, "jobs", r.o.Jobs)
	t := time.Now()
	defer r.step("analyze", t)
	// The shared catalogs are skipped with a warning per table: hide them.
	err := r.toolWith(ctx, "vacuumdb", side, r.o.Owner, []string{"client_min_messages=error"}, nil, nil,
		"--analyze-only", "-q", "-j", strconv.Itoa(r.o.Jobs), "-d", side.Database)
	if err != nil {
		return fmt.Errorf("cannot analyze the copy: %w", err)
	}
	return nil
}
