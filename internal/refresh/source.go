package refresh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// format is how a dump is stored.
type format string

const (
	formatCustom    format = "custom"
	formatDirectory format = "directory"
	formatPlain     format = "plain"
	formatPlainGzip format = "plain.gz"
)

// dump is the data a refresh restores.
type dump struct {
	path    string
	format  format
	source  string // for Result.Source
	bytes   int64
	takenAt time.Time
	// unproven says why a backup could not be proven complete (a
	// directory-format dump holding files that cannot be checked): it may
	// be swapped in, but no kept copy is dropped for it. Empty: proven.
	unproven string
	// check, if set, is the completeness check of a directory-format
	// dump running beside its restore; see waitChecked.
	check *pendingCheck
	// picked is the backup's file information when it was picked (nil
	// for a live dump), to notice a file rewritten while it was checked
	// and restored.
	picked  fs.FileInfo
	cleanup func()
}

// newestBackup picks the newest entry of dir (by modification time) whose
// name matches pattern: a file, or a directory-format dump (a directory
// holding toc.dat).
func newestBackup(dir, pattern string) (string, fs.FileInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, fmt.Errorf("cannot read the backup directory %s: %w", dir, err)
	}
	var best string
	var bestInfo fs.FileInfo
	for _, e := range entries {
		if ok, _ := filepath.Match(pattern, e.Name()); !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := os.Stat(p) // follows symlinks
		if err != nil {
			continue
		}
		if info.IsDir() {
			if _, err := os.Stat(filepath.Join(p, "toc.dat")); err != nil {
				continue
			}
		} else if !info.Mode().IsRegular() {
			continue
		}
		if bestInfo == nil || info.ModTime().After(bestInfo.ModTime()) {
			best, bestInfo = p, info
		}
	}
	if bestInfo == nil {
		return "", nil, fmt.Errorf("no backup in %s matches %q", dir, pattern)
	}
	return best, bestInfo, nil
}

// detectFormat tells the dump's format by its content, not its name (info
// nil: a file).
func detectFormat(path string, info fs.FileInfo) (format, error) {
	if info != nil && info.IsDir() {
		return formatDirectory, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot open the backup %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 5)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PGDMP")):
		return formatCustom, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return formatPlainGzip, nil
	}
	return formatPlain, nil
}

// backupDump describes the newest matching backup.
func (r *run) backupDump(ctx context.Context) (*dump, error) {
	path, info, err := newestBackup(r.o.BackupDir, r.o.Pattern)
	if err != nil {
		return nil, err
	}
	f, err := detectFormat(path, info)
	if err != nil {
		return nil, err
	}
	rel, _ := filepath.Rel(r.o.BackupDir, path)
	d := &dump{path: path, format: f, source: rel, bytes: sizeOf(path, info), takenAt: info.ModTime(), picked: info, cleanup: func() {}}
	if err := r.checkDump(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// checkDump refuses a backup that cannot be restored whole, before anything
// is created (a directory-format dump's data files: before the swap), and
// takes its creation time from an archive's header.
func (r *run) checkDump(ctx context.Context, d *dump) (err error) {
	if d.format == formatPlain || d.format == formatPlainGzip {
		return r.checkPlainComplete(d)
	}
	// A dump pg_restore cannot list is refused here, before anything is
	// created; one whose data pg_restore cannot read fails the restore.
	var list bytes.Buffer
	if err := r.tool(ctx, "pg_restore", r.o.Target, &list, nil, "-l", d.path); err != nil {
		return fmt.Errorf("cannot read the backup %s: %w", d.source, err)
	}
	if created := archiveCreatedAt(list.String()); !created.IsZero() {
		d.takenAt = created
	}
	if d.format == formatDirectory {
		// pg_restore does not see an uncompressed data file cut short.
		// Reading every file to its end is CPU work (gunzip) as long as a
		// good part of the restore: it runs beside the restore, into the
		// side database only, and the swap waits for its verdict.
		d.check = r.startDirectoryCheck(d, list.String())
	}
	return nil
}

// pendingCheck is a completeness check running in the background.
type pendingCheck struct {
	done     chan struct{}
	unproven string
	err      error
	took     time.Duration
}

func (r *run) startDirectoryCheck(d *dump, list string) *pendingCheck {
	c := &pendingCheck{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.Now()
		c.unproven, c.err = r.checkDirectoryComplete(d, list)
		c.took = time.Since(t)
	}()
	return c
}

// stopOnRefusal is ctx, cancelled as soon as the dump's completeness check
// refuses it: restoring the rest would be wasted.
func stopOnRefusal(ctx context.Context, d *dump) context.Context {
	if d.check == nil {
		return ctx
	}
	rctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-d.check.done:
			if d.check.err != nil {
				cancel(d.check.err)
			}
		case <-rctx.Done():
		}
	}()
	return rctx
}

// waitChecked waits for the dump's completeness check (if one runs) and
// returns its refusal; it records how long the check took. Safe to call
// more than once.
func (r *run) waitChecked(d *dump) error {
	if d.check == nil {
		return nil
	}
	<-d.check.done
	if _, seen := r.res.DurationsMs["verify"]; !seen {
		r.res.DurationsMs["verify"] = d.check.took.Milliseconds()
	}
	d.unproven = d.check.unproven
	return d.check.err
}

// unchanged refuses a backup whose size or modification time changed since
// it was picked: a backup job rewrote it while it was checked and restored,
// so the copy may be half of one file and half of another.
func (d *dump) unchanged() error {
	if d.picked == nil {
		return nil
	}
	now, err := os.Stat(d.path)
	if err != nil {
		return fmt.Errorf("the backup %s is gone since it was picked: %w", d.source, err)
	}
	if now.Size() != d.picked.Size() || !now.ModTime().Equal(d.picked.ModTime()) {
		return fmt.Errorf("refusing the backup %s: it changed while it was being restored (it was %d bytes, modified %s; it is %d bytes, modified %s)",
			d.source, d.picked.Size(), d.picked.ModTime().UTC().Format(time.RFC3339), now.Size(), now.ModTime().UTC().Format(time.RFC3339))
	}
	return nil
}

// archiveCreatedAt reads "; Archive created at ..." from pg_restore -l's
// listing; zero if it has none.
func archiveCreatedAt(list string) time.Time {
	for _, line := range strings.Split(list, "\n") {
		if v, ok := strings.CutPrefix(line, "; Archive created at "); ok {
			return parseArchiveTime(strings.TrimSpace(v))
		}
	}
	return time.Time{}
}

// parseArchiveTime parses pg_dump's "%Y-%m-%d %H:%M:%S %Z"; zero if it
// cannot (the file time is used then).
func parseArchiveTime(v string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func sizeOf(path string, info fs.FileInfo) int64 {
	if !info.IsDir() {
		return info.Size()
	}
	var n int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if i, err := d.Info(); err == nil {
				n += i.Size()
			}
		}
		return nil
	})
	return n
}

// liveDump takes a directory-format pg_dump of the live source into the
// scratch directory, removed again by cleanup.
func (r *run) liveDump(ctx context.Context) (*dump, error) {
	started := r.o.Now().UTC()
	dir, err := scratchDir(r.o.ScratchDir, "dump-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	path := filepath.Join(dir, "dump")
	src := r.o.Source.WithDatabase(r.o.SourceDB)
	r.log.Info("dumping the live source", "source", src.String(), "jobs", r.o.Jobs, "path", path)
	t := time.Now()
	if err := r.tool(ctx, "pg_dump", src, nil, nil, "-Fd", "-j", fmt.Sprint(r.o.Jobs), "-f", path); err != nil {
		cleanup()
		return nil, fmt.Errorf("cannot dump database %q from %s:%d: %w", r.o.SourceDB, src.Host, src.Port, err)
	}
	r.step("dump", t)
	info, err := os.Stat(path)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("cannot find the dump pg_dump wrote: %w", err)
	}
	return &dump{path: path, format: formatDirectory, source: "database " + r.o.SourceDB,
		bytes: sizeOf(path, info), takenAt: started, cleanup: cleanup}, nil
}
