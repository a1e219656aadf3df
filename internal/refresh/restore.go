package refresh

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// restore loads the dump into the side database: pg_restore -j N for
// archives, psql with ON_ERROR_STOP for plain SQL (gunzipped on the fly,
// never to disk). Objects are restored without their original owners and
// belong to Options.Owner (or the target user).
func (r *run) restore(ctx context.Context, d *dump) error {
	side := r.o.Target.WithDatabase(r.o.sideName())
	r.log.Info("restoring", "format", string(d.format), "source", d.source, "bytes", d.bytes, "into", r.o.sideName(), "jobs", r.o.Jobs)
	t := time.Now()
	defer r.step("restore", t)
	switch d.format {
	case formatCustom, formatDirectory:
		err := r.toolAs(ctx, "pg_restore", side, r.o.Owner, nil, nil,
			"--no-owner", "--no-tablespaces", "--exit-on-error", "-j", strconv.Itoa(r.o.Jobs), "-d", side.Database, d.path)
		if err != nil {
			return fmt.Errorf("cannot restore %s: %w", d.source, err)
		}
		return nil
	}
	f, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("cannot open the backup %s: %w", d.source, err)
	}
	defer f.Close()
	var in io.Reader = bufio.NewReaderSize(f, 1<<20)
	if d.format == formatPlainGzip {
		zr, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("cannot read the gzip'd backup %s: %w", d.source, err)
		}
		defer zr.Close()
		in = zr
	}
	err = r.toolAs(ctx, "psql", side, r.o.Owner, io.Discard, newOwnerFilter(in),
		"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", side.Database, "-f", "-")
	if err != nil {
		return fmt.Errorf("cannot restore %s: %w", d.source, err)
	}
	return nil
}

// ownerFilter drops a plain dump's "ALTER ... OWNER TO ...;" lines (the
// plain-SQL form of pg_restore --no-owner), leaving COPY data untouched.
type ownerFilter struct {
	r        *bufio.Reader
	pending  []byte
	err      error
	inCopy   bool
	lineRest bool // in the middle of a line longer than the buffer
}

func newOwnerFilter(r io.Reader) io.Reader {
	return &ownerFilter{r: bufio.NewReaderSize(r, 256<<10)}
}

func (f *ownerFilter) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		line, err := f.r.ReadSlice('\n')
		switch err {
		case nil:
		case bufio.ErrBufferFull:
			// A long line (data, or a function body): always kept.
			f.pending, f.lineRest = line, true
			continue
		default:
			f.err = err
		}
		cont := f.lineRest
		f.lineRest = false
		if cont || f.keep(line) {
			f.pending = line
		}
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// keep decides on a whole line (with its newline).
func (f *ownerFilter) keep(line []byte) bool {
	text := bytes.TrimRight(line, "\r\n")
	if f.inCopy {
		if bytes.Equal(text, []byte(`\.`)) {
			f.inCopy = false
		}
		return true
	}
	if bytes.HasPrefix(text, []byte("COPY ")) && bytes.HasSuffix(text, []byte("FROM stdin;")) {
		f.inCopy = true
		return true
	}
	return !(bytes.HasPrefix(text, []byte("ALTER ")) && bytes.Contains(text, []byte(" OWNER TO ")) && bytes.HasSuffix(text, []byte(";")))
}
