package refresh

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
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
			rest = true // a long line: data, or a function body
			complete = complete && copyOf != ""
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return fmt.Errorf("cannot read it: %w (%w)", err, errIncomplete)
		}
		cont := rest
		rest = false
		text := bytes.TrimRight(line, "\r\n")
		switch {
		case cont:
			complete = complete && copyOf != ""
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
