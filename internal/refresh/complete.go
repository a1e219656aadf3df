package refresh

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	// Several times as fast to inflate as compress/gzip (6x on COPY-like
	// text, 2026-12-07): the check reads every gzip'd file of a directory
	// dump to its end.
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// completionLine is the comment pg_dump writes as the last statement of a
// plain-SQL dump; a file without it was cut short.
const completionLine = "-- PostgreSQL database dump complete"

// errIncomplete marks a backup that was cut short: a refusal, not a
// failure of the runner.
var errIncomplete = errors.New("the dump was cut short")

// checkPlainComplete reads a plain-SQL dump (gunzipping .sql.gz) to its end
// and refuses one that was cut short. psql ends an unterminated
// "COPY ... FROM stdin" at end of file and exits 0, so half a dump would
// otherwise restore "successfully" with half the rows. It reads the file
// once more than the restore does, before anything is created.
func (r *run) checkPlainComplete(d *dump) error {
	t := time.Now()
	defer r.step("verify", t)
	f, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("cannot open the backup %s: %w", d.source, err)
	}
	defer f.Close()
	var in io.Reader = f
	if d.format == formatPlainGzip {
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
		if err != nil {
			return fmt.Errorf("cannot read the gzip'd backup %s: %w", d.source, err)
		}
		defer zr.Close()
		in = zr
	}
	if err := scanPlainDump(in); err != nil {
		return fmt.Errorf("refusing the backup %s: %w", d.source, err)
	}
	return nil
}

// scanPlainDump returns nil only for a plain-SQL dump that ends outside
// every COPY block with pg_dump's completion line, followed by nothing but
// blank lines, comments and pg_dump's "\unrestrict KEY".
func scanPlainDump(in io.Reader) error {
	br := bufio.NewReaderSize(in, 256<<10)
	var (
		copyOf   string // the table whose COPY data is being read
		complete bool
		rest     bool // in the middle of a line longer than the buffer
	)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			rest, complete = true, false // a long line: data, or a function body
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return fmt.Errorf("cannot read it: %w (%w)", err, errIncomplete)
		}
		cont := rest
		rest = false
		text := bytes.TrimRight(line, "\r\n")
		switch {
		case cont:
			complete = false
		case copyOf != "":
			if string(text) == `\.` {
				copyOf = ""
			}
		case bytes.HasPrefix(text, []byte("COPY ")) && bytes.HasSuffix(text, []byte("FROM stdin;")):
			copyOf, complete = copyTable(text), false
		case string(text) == completionLine:
			complete = true
		case len(text) == 0, bytes.HasPrefix(text, []byte("--")), bytes.HasPrefix(text, []byte(`\unrestrict `)):
		default:
			complete = false
		}
		if err != nil { // io.EOF
			break
		}
	}
	switch {
	case copyOf != "":
		return fmt.Errorf("it ends inside COPY of table %s: %w", copyOf, errIncomplete)
	case !complete:
		return fmt.Errorf("it has no pg_dump completion line (%q) at its end: %w", completionLine, errIncomplete)
	}
	return nil
}

// copyTable is the table name of a "COPY <table> (<columns>) FROM stdin;"
// line, quoted identifiers (which may hold spaces) kept whole.
func copyTable(line []byte) string {
	name := line[len("COPY "):]
	quoted := false
	for i, c := range name {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			return string(name[:i])
		}
	}
	return string(name)
}

// tableData matches a TABLE DATA entry of pg_restore -l: its dump ID, which
// names its data file, and "schema table owner".
var tableData = regexp.MustCompile(`(?m)^([0-9]+); [0-9]+ [0-9]+ TABLE DATA (.*)$`)

// checkDirectoryComplete checks that each table's data file of a
// directory-format dump ends with the end of its COPY data (`\.`), as
// pg_dump writes it: pg_restore would load an uncompressed file cut short
// without a word. Gzip'd files are read to their end, which also checks
// their length and CRC. The files are read Jobs at a time (gunzip is the
// cost). For a dump holding files it cannot check (lz4 or zstd data, large
// objects) it returns why, and no error.
func (r *run) checkDirectoryComplete(d *dump, list string) (unproven string, err error) {
	var mu sync.Mutex
	checked := map[string]bool{"toc.dat": true}
	var g errgroup.Group
	g.SetLimit(r.o.Jobs)
	for _, m := range tableData.FindAllStringSubmatch(list, -1) {
		for _, name := range []string{m[1] + ".dat", m[1] + ".dat.gz"} {
			g.Go(func() error {
				err := checkDataFile(filepath.Join(d.path, name))
				if errors.Is(err, os.ErrNotExist) {
					return nil // pg_restore fails on a missing file
				}
				mu.Lock()
				checked[name] = true
				mu.Unlock()
				if err != nil {
					return fmt.Errorf("refusing the backup %s: its data file %s of table %s %w", d.source, name, tableOf(m[2]), err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return "", fmt.Errorf("cannot read the backup %s: %w", d.source, err)
	}
	for _, e := range entries {
		if !checked[e.Name()] {
			return fmt.Sprintf("it holds %s, which the runner cannot check (large objects, lz4 or zstd data are not checked)", e.Name()), nil
		}
	}
	return "", nil
}

// checkDataFile reads one data file of a directory-format dump to its end.
func checkDataFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var in io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("cannot be read: %w (%w)", err, errIncomplete)
		}
		defer zr.Close()
		in = zr
	}
	var tail tailWriter
	if _, err := io.Copy(&tail, in); err != nil {
		return fmt.Errorf("cannot be read: %w (%w)", err, errIncomplete)
	}
	if end := bytes.TrimRight(tail.b, "\n"); !bytes.HasSuffix(end, []byte("\n\\.")) && string(end) != `\.` {
		return fmt.Errorf(`does not end with the end of its COPY data ("\."): %w`, errIncomplete)
	}
	return nil
}

// tableOf makes "schema table owner" of a TABLE DATA entry "schema.table".
func tableOf(entry string) string {
	fields := strings.Fields(entry)
	if len(fields) < 3 {
		return entry
	}
	return fields[0] + "." + strings.Join(fields[1:len(fields)-1], " ")
}

// tailWriter keeps the last bytes written to it.
type tailWriter struct{ b []byte }

func (w *tailWriter) Write(p []byte) (int, error) {
	const keep = 16
	if len(p) >= keep {
		w.b = append(w.b[:0], p[len(p)-keep:]...)
		return len(p), nil
	}
	w.b = append(w.b, p...)
	if len(w.b) > keep {
		w.b = append(w.b[:0], w.b[len(w.b)-keep:]...)
	}
	return len(p), nil
}
