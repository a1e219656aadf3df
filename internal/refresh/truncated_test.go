package refresh

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixtureFile is one of the fixture dumps, as bytes.
func fixtureFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dumps(t).dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refusedBackup writes content as the only backup of a directory and
// checks that a refresh of target from it fails with wantErr and leaves
// dev, its kept copy and the server's databases exactly as they were.
func refusedBackup(t *testing.T, target, name string, content []byte, wantErr string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, opts(t, target, "src.custom")) // failingRefresh's own run keeps this copy
	o := opts(t, "", name)
	o.BackupDir = dir
	failingRefresh(t, target, o, wantErr)
	if got := databases(t, target+"_prev_"); len(got) != 1 {
		t.Fatalf("kept copies after a refused backup: %v, want the one kept before", got)
	}
}

// cutInsideCopy is the plain fixture dump cut in the middle of the COPY
// data of public.orders, on a line boundary, as a copy interrupted at a
// block boundary leaves it.
func cutInsideCopy(t *testing.T) []byte {
	t.Helper()
	sql := fixtureFile(t, "src.sql")
	start := bytes.Index(sql, []byte("COPY public.orders "))
	end := bytes.Index(sql[start:], []byte("\n\\.\n"))
	if start < 0 || end < 0 {
		t.Fatal("the fixture dump has no COPY of public.orders")
	}
	cut := start + end/2
	cut += bytes.IndexByte(sql[cut:], '\n') + 1
	return sql[:cut]
}

func TestAPlainDumpCutInsideACopyIsRefused(t *testing.T) {
	t.Parallel()
	refusedBackup(t, "cut_copy", "cut.sql", cutInsideCopy(t),
		"refusing the backup cut.sql: it ends inside COPY of table public.orders: the dump was cut short")
}

func TestAGzipPlainDumpCutInsideACopyIsRefused(t *testing.T) {
	t.Parallel()
	refusedBackup(t, "cut_gzip", "cut.sql.gz", gzipped(t, string(cutInsideCopy(t))),
		"refusing the backup cut.sql.gz: it ends inside COPY of table public.orders")
}

func TestAGzipFileCutShortIsRefused(t *testing.T) {
	t.Parallel()
	gz := fixtureFile(t, "src.sql.gz")
	refusedBackup(t, "cut_gzbytes", "cut.sql.gz", gz[:len(gz)/2],
		"refusing the backup cut.sql.gz: cannot read it: unexpected EOF")
}

func TestAPlainDumpWithoutItsCompletionLineIsRefused(t *testing.T) {
	t.Parallel()
	sql := fixtureFile(t, "src.sql")
	// Cut after the last complete statement: no COPY is left open, only
	// the trailer is missing.
	end := bytes.LastIndex(sql, []byte("\n--\n"+completionLine))
	if end < 0 {
		t.Fatal("the fixture dump has no completion line")
	}
	refusedBackup(t, "cut_noend", "noend.sql", sql[:end+1],
		`refusing the backup noend.sql: it has no pg_dump completion line ("-- PostgreSQL database dump complete") at its end: the dump was cut short`)
}

func TestATruncatedCustomDumpIsRefused(t *testing.T) {
	t.Parallel()
	dump := fixtureFile(t, "src.custom")
	refusedBackup(t, "cut_custom", "cut.dump", dump[:len(dump)/2], "cannot restore cut.dump")
}

func TestACompleteDumpWithRestrictLinesRestores(t *testing.T) {
	t.Parallel()
	sql := fixtureFile(t, "src.sql")
	if !bytes.Contains(sql, []byte("\n\\restrict ")) || !bytes.Contains(sql, []byte("\n\\unrestrict ")) {
		t.Fatalf("pg_dump wrote no \\restrict and \\unrestrict lines (it has had them since 13.22, 14.19, 15.14, 16.10 and 17.6)")
	}
	mustRun(t, opts(t, "cut_restrict", "src.sql"))
	sameSums(t, "copy vs source", mustChecksums(t, "cut_restrict"), dumps(t).sums)
}

// A directory-format backup cannot be proven complete: it is swapped in,
// but no kept copy is dropped for it, and the result says so.
func TestADirectoryBackupKeepsEveryPreviousCopy(t *testing.T) {
	t.Parallel()
	const target = "cut_dir"
	mustRun(t, opts(t, target, "src.custom"))
	kept := mustRun(t, opts(t, target, "src.custom")).Previous
	res := mustRun(t, opts(t, target, "src.dir")) // keepPrevious 1
	if len(res.Dropped) != 0 || !slices.Contains(databases(t, target+"_prev_"), kept) {
		t.Fatalf("a refresh from a directory backup dropped %v; copies now %v", res.Dropped, databases(t, target+"_prev_"))
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "src.dir is a directory-format dump, which cannot be proven complete") {
		t.Errorf("warnings = %q, want one saying why no copy was dropped", res.Warnings)
	}
	sameSums(t, "copy vs source", mustChecksums(t, target), dumps(t).sums)
}

func TestScanPlainDump(t *testing.T) {
	long := strings.Repeat("x", 600<<10)
	trailer := "--\n" + completionLine + "\n--\n\n"
	for _, tc := range []struct {
		name, dump, want string
	}{
		{"complete", "CREATE TABLE t (x text);\n" + trailer, ""},
		{"restrict lines", "\\restrict abc\nSET x = 1;\n" + trailer + "\\unrestrict abc\n", ""},
		{"no final newline", "SELECT 1;\n" + "--\n" + completionLine, ""},
		{"crlf", "SELECT 1;\r\n--\r\n" + completionLine + "\r\n", ""},
		{"long lines", "CREATE FUNCTION f() AS '" + long + "';\nCOPY t (x) FROM stdin;\n" + long + "\n\\.\n" + trailer, ""},
		{"completion text inside data", "COPY t (x) FROM stdin;\n" + completionLine + "\n", "ends inside COPY of table t"},
		{"quoted table", "COPY billing.\"Invoice Lines\" (\"Line No\") FROM stdin;\n1\n", `ends inside COPY of table billing."Invoice Lines"`},
		{"cut in a long data line", "COPY t (x) FROM stdin;\n" + long, "ends inside COPY of table t"},
		{"empty", "", "no pg_dump completion line"},
		{"no trailer", "CREATE TABLE t (x text);\n", "no pg_dump completion line"},
		{"statements after the trailer", trailer + "DROP TABLE t;\n", "no pg_dump completion line"},
		{"long line after the trailer", trailer + long + "\n", "no pg_dump completion line"},
	} {
		err := scanPlainDump(strings.NewReader(tc.dump))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errIncomplete)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// The refusal reaches the DatabaseRefresh as the result's error.
func TestARefusedBackupIsAFailedResult(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "half.sql"), cutInsideCopy(t), 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts(t, "cut_first", "half.sql")
	o.BackupDir = dir
	res := Run(context.Background(), o)
	if res.Result != Failed || !strings.Contains(res.Error, "half.sql") || !strings.Contains(res.Error, "cut short") {
		t.Fatalf("result = %+v", res)
	}
	if got := databases(t, "cut_first"); len(got) != 0 {
		t.Errorf("a refused first refresh created %v", got)
	}
}
