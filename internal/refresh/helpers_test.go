package refresh

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOwnerFilterDropsOwnershipButNotData(t *testing.T) {
	in := strings.Join([]string{
		"CREATE TABLE public.t (x text);",
		"ALTER TABLE public.t OWNER TO prod;",
		"ALTER FUNCTION public.f(integer) OWNER TO \"prod owner\";",
		"COPY public.t (x) FROM stdin;",
		"ALTER TABLE x OWNER TO y;",
		strings.Repeat("long line ", 100000),
		`\.`,
		"ALTER SCHEMA s OWNER TO prod;",
		"ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (x);",
		"",
	}, "\n")
	out, err := io.ReadAll(newOwnerFilter(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"CREATE TABLE public.t (x text);",
		"COPY public.t (x) FROM stdin;",
		"ALTER TABLE x OWNER TO y;",
		strings.Repeat("long line ", 100000),
		`\.`,
		"ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (x);",
		"",
	}, "\n")
	if string(out) != want {
		t.Errorf("filtered output differs (%d bytes, want %d)", len(out), len(want))
	}
}

func TestNewestBackupAndFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, content []byte, age time.Duration) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(-age)
		_ = os.Chtimes(p, mt, mt)
	}
	write("nightly-1.dump", []byte("PGDMP\x01"), 3*time.Hour)
	write("nightly-2.dump.gz", gzipped(t, "SELECT 1;"), 2*time.Hour)
	write("nightly-3.dump.sql", []byte("SELECT 1;"), time.Hour)
	write("other.dump", []byte("PGDMP"), 0)                     // newest, but does not match
	_ = os.Mkdir(filepath.Join(dir, "nightly-4.dump.d"), 0o755) // no toc.dat: not a dump
	for _, tc := range []struct {
		pattern, want string
		format        format
	}{
		{"nightly-*.dump*", "nightly-3.dump.sql", formatPlain},
		{"nightly-*.dump.gz", "nightly-2.dump.gz", formatPlainGzip},
		{"nightly-1.*", "nightly-1.dump", formatCustom},
	} {
		p, info, err := newestBackup(dir, tc.pattern)
		if err != nil || filepath.Base(p) != tc.want {
			t.Errorf("newestBackup(%q) = %s, %v; want %s", tc.pattern, p, err, tc.want)
			continue
		}
		if f, err := detectFormat(p, info); f != tc.format || err != nil {
			t.Errorf("format of %s = %s, %v; want %s", tc.want, f, err, tc.format)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "nightly-4.dump.d", "toc.dat"), []byte("PGDMP"), 0o644)
	if p, info, err := newestBackup(dir, "nightly-*"); err != nil || filepath.Base(p) != "nightly-4.dump.d" {
		t.Errorf("directory dump not picked: %s %v", p, err)
	} else if f, _ := detectFormat(p, info); f != formatDirectory {
		t.Errorf("format = %s, want directory", f)
	}
	if _, _, err := newestBackup(dir, "none-*"); err == nil || !strings.Contains(err.Error(), "none-*") {
		t.Errorf("no match: %v", err)
	}
}

func gzipped(t *testing.T, s string) []byte {
	var b strings.Builder
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return []byte(b.String())
}

func TestParseArchiveTime(t *testing.T) {
	want := time.Date(2026, 11, 27, 3, 0, 1, 0, time.UTC)
	if got := parseArchiveTime("2026-11-27 03:00:01 UTC"); !got.Equal(want) {
		t.Errorf("got %v", got)
	}
	if got := parseArchiveTime("garbage"); !got.IsZero() {
		t.Errorf("garbage parsed as %v", got)
	}
}

func TestOptionsValidation(t *testing.T) {
	base := Options{TargetDB: "app_dev", BackupDir: "/b", Pattern: "*", KeepPrevious: 1}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"ok", func(*Options) {}, ""},
		{"no target", func(o *Options) { o.TargetDB = "" }, "--target-db"},
		{"long target", func(o *Options) { o.TargetDB = strings.Repeat("a", 44) }, "longer than 43"},
		{"two sources", func(o *Options) { o.SourceDB = "app" }, "exactly one source"},
		{"no source", func(o *Options) { o.BackupDir = "" }, "exactly one source"},
		{"no pattern", func(o *Options) { o.Pattern = "" }, "--pattern"},
		{"bad pattern", func(o *Options) { o.Pattern = "[" }, "not a valid glob"},
		{"negative keep", func(o *Options) { o.KeepPrevious = -1 }, "--keep-previous"},
	} {
		o := base
		tc.change(&o)
		err := o.validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}
