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

// A directory-format dump whose data files are whole is proven complete:
// keepPrevious applies as for any other backup.
func TestAWholeDirectoryBackupDropsOldCopies(t *testing.T) {
	t.Parallel()
	const target = "cut_dirok"
	mustRun(t, opts(t, target, "src.custom"))
	oldest := mustRun(t, opts(t, target, "src.custom")).Previous
	res := mustRun(t, opts(t, target, "src.dir")) // keepPrevious 1
	if !slices.Equal(res.Dropped, []string{oldest}) || len(res.Warnings) != 0 {
		t.Fatalf("dropped %v with warnings %q, want [%s] dropped", res.Dropped, res.Warnings, oldest)
	}
	sameSums(t, "copy vs source", mustChecksums(t, target), dumps(t).sums)
}

// dirDump dumps the fixture's source database in directory format with
// pg_dump's extra args into a new directory "name" and returns that.
func dirDump(t *testing.T, db, name string, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := pgDump(db, dir, append([]string{"-Fd"}, args...)...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dataFileOf is the data file of table (as pg_restore -l names it,
// "schema table") in a directory-format dump.
func dataFileOf(t *testing.T, dir, table, suffix string) string {
	t.Helper()
	var list bytes.Buffer
	r := &run{o: opts(t, "", "")}
	if err := r.tool(context.Background(), "pg_restore", srv.Conn(""), &list, nil, "-l", dir); err != nil {
		t.Fatal(err)
	}
	for _, m := range tableData.FindAllStringSubmatch(list.String(), -1) {
		if strings.HasPrefix(m[2], table+" ") {
			return filepath.Join(dir, m[1]+suffix)
		}
	}
	t.Fatalf("no data of %s in %s", table, dir)
	return ""
}

func TestADirectoryBackupWithADataFileCutShortIsRefused(t *testing.T) {
	t.Parallel()
	dumps(t)
	dir := dirDump(t, "src", "cut.dir", "-Z0") // pg_restore loads a cut uncompressed file without a word
	file := dataFileOf(t, dir, "public orders", ".dat")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := len(data) / 2
	cut += bytes.IndexByte(data[cut:], '\n') + 1
	if err := os.WriteFile(file, data[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts(t, "", "cut.dir")
	o.BackupDir = filepath.Dir(dir)
	mustRun(t, opts(t, "cut_dirdata", "src.custom"))
	failingRefresh(t, "cut_dirdata", o, "refusing the backup cut.dir: its data file "+filepath.Base(file)+
		` of table public.orders does not end with the end of its COPY data ("\."): the dump was cut short`)
	if got := databases(t, "cut_dirdata_prev_"); len(got) != 1 {
		t.Fatalf("kept copies after a refused backup: %v, want the one kept before", got)
	}
}

func TestADirectoryBackupWithAGzipDataFileCutShortIsRefused(t *testing.T) {
	t.Parallel()
	dumps(t)
	dir := dirDump(t, "src", "cut.dir")
	file := dataFileOf(t, dir, "public users", ".dat.gz")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts(t, "cut_dirgz", "cut.dir")
	o.BackupDir = filepath.Dir(dir)
	res := Run(context.Background(), o)
	if res.Result != Failed || !strings.Contains(res.Error, "of table public.users cannot be read: unexpected EOF") {
		t.Fatalf("result = %+v", res)
	}
	if got := databases(t, "cut_dirgz"); len(got) != 0 {
		t.Errorf("a refused first refresh created %v", got)
	}
}

// A directory-format dump with large objects cannot be proven complete:
// it is swapped in, but no kept copy is dropped for it, and the result
// says so.
func TestAnUncheckableDirectoryBackupKeepsEveryPreviousCopy(t *testing.T) {
	t.Parallel()
	const target = "cut_dirlo"
	if err := createDB("src_lo", "CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT lo_from_bytea(0, 'hello');"); err != nil {
		t.Fatal(err)
	}
	dir := dirDump(t, "src_lo", "lo.dir")
	mustRun(t, opts(t, target, "src.custom"))
	kept := mustRun(t, opts(t, target, "src.custom")).Previous
	o := opts(t, target, "lo.dir") // keepPrevious 1
	o.BackupDir = filepath.Dir(dir)
	res := mustRun(t, o)
	if len(res.Dropped) != 0 || !slices.Contains(databases(t, target+"_prev_"), kept) {
		t.Fatalf("a refresh from an unproven backup dropped %v; copies now %v", res.Dropped, databases(t, target+"_prev_"))
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "kept every previous copy (keepPrevious not applied): the backup lo.dir cannot be proven complete: it holds blob_") {
		t.Errorf("warnings = %q, want one saying why no copy was dropped", res.Warnings)
	}
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

// A backup is refused before the side database is created: a first
// refresh from one creates nothing, and its result names the file and why.
func TestARefusedFirstRefreshCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "half.sql"), cutInsideCopy(t), 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts(t, "cut_first", "half.sql")
	o.BackupDir = dir
	res := Run(context.Background(), o)
	if res.Result != Failed || !strings.Contains(res.Error, "half.sql") || !strings.Contains(res.Error, "cut short") || res.Step != StepSource {
		t.Fatalf("result = %+v", res)
	}
	if got := databases(t, "cut_first"); len(got) != 0 {
		t.Errorf("a refused first refresh created %v", got)
	}
}

func TestABackupRewrittenWhileRestoredIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nightly.sql")
	if err := os.WriteFile(path, []byte("SELECT 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, info, err := newestBackup(dir, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	d := &dump{path: path, source: "nightly.sql", picked: info}
	if err := d.unchanged(); err != nil {
		t.Fatalf("an untouched backup: %v", err)
	}
	if err := os.WriteFile(path, []byte("SELECT 2; -- tonight's, half written\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.unchanged(); err == nil || !strings.Contains(err.Error(), "refusing the backup nightly.sql: it changed while it was being restored") {
		t.Errorf("a rewritten backup: %v", err)
	}
}
