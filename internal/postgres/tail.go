package postgres

import (
	"strings"
	"sync"
)

// TailBuffer keeps the last Max bytes written to it: the end of a tool's
// stderr, where pg_dump, pg_restore and psql say what went wrong.
type TailBuffer struct {
	Max int
	mu  sync.Mutex
	buf []byte
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.Max {
		t.buf = t.buf[len(t.buf)-t.Max:]
	}
	return len(p), nil
}

// String is the kept text without a first line that was cut in half.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf)
	if i := strings.IndexByte(s, '\n'); len(t.buf) == t.Max && i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
