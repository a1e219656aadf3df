package refresh

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// failingRefresh runs a refresh of a target that already holds a
// (modified) copy, expects it to fail, and checks that the target's every
// table is as before and no side database is left.
func failingRefresh(t *testing.T, target string, o Options, wantErr string) {
	t.Helper()
	mustRun(t, opts(t, target, "src.custom"))
	exec1(t, target, "UPDATE users SET email = 'changed@dev' WHERE id = 7")
	before := mustChecksums(t, target)
	dbsBefore := databases(t, target)
	o.TargetDB = target
	res := Run(context.Background(), o)
	if res.Result != Failed || !strings.Contains(res.Error, wantErr) {
		t.Fatalf("result = %+v, want Failed with %q", res, wantErr)
	}
	sameSums(t, "target after a failed refresh", mustChecksums(t, target), before)
	if got := databases(t, target); !slices.Equal(got, dbsBefore) {
		t.Fatalf("databases after a failed refresh: %v, want %v", got, dbsBefore)
	}
}

func TestACorruptDumpLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(dumps(t).dir, "src.custom"))
	if err != nil {
		t.Fatal(err)
	}
	// Keep the header and table of contents, garble the data.
	bad := slices.Clone(good)
	for i := len(bad) / 2; i < len(bad); i += 7 {
		bad[i] ^= 0x5a
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.dump"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts(t, "", "*.dump")
	o.BackupDir = dir
	failingRefresh(t, "corrupt", o, "cannot restore bad.dump")
}

func TestACorruptPlainDumpLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(dumps(t).dir, "src.sql"))
	if err != nil {
		t.Fatal(err)
	}
	// A whole dump (it passes the completeness check) that psql fails on.
	end := bytes.LastIndex(good, []byte("\n--\n"+completionLine))
	bad := slices.Concat(good[:end+1], []byte("THIS IS NOT SQL;\n"), good[end+1:])
	if err := os.WriteFile(filepath.Join(dir, "bad.sql"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts(t, "", "*.sql")
	o.BackupDir = dir
	failingRefresh(t, "plaincorrupt", o, "cannot restore bad.sql")
}

func TestAFailingSanitizeLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "01-ok.sql"), []byte("UPDATE users SET email = 'x' || id;"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "02-bad.sql"), []byte("UPDATE users SET email = NULL;"), 0o644)
	o := opts(t, "", "src.custom")
	o.SanitizeDir = dir
	failingRefresh(t, "badscrub", o, "cannot apply sanitize file 02-bad.sql")
}

func TestAnUnreachableSourceLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	o := opts(t, "", "")
	o.BackupDir, o.Pattern, o.SourceDB = "", "", "src"
	o.Source = srv.Conn("")
	o.Source.Port = 1 // nothing listens there
	failingRefresh(t, "nosource", o, `cannot dump database "src"`)
}

func TestNoMatchingBackupLeavesTheTargetAlone(t *testing.T) {
	t.Parallel()
	failingRefresh(t, "nobackup", opts(t, "", "*.nothing"), "no backup in")
}
