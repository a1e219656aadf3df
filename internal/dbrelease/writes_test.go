package dbrelease

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// writer inserts rows with increasing ids into db's writes table, as an
// application would, reconnecting after errors, and records which ids
// the server acknowledged and how many writes failed as read-only.
type writer struct {
	mu       sync.Mutex
	acked    []int64
	readOnly int
	stop     chan struct{}
	done     chan struct{}
}

func startWriter(db string) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		ctx := context.Background()
		var c *pgx.Conn
		defer func() {
			if c != nil {
				_ = c.Close(ctx)
			}
		}()
		for id := int64(1); ; id++ {
			select {
			case <-w.stop:
				return
			default:
			}
			if c == nil {
				var err error
				if c, err = postgres.Connect(ctx, srv.Conn(db), "writer"); err != nil {
					c = nil
					time.Sleep(5 * time.Millisecond) // refused during a Template copy
					continue
				}
			}
			_, err := c.Exec(ctx, "INSERT INTO writes (id) VALUES ($1)", id)
			w.mu.Lock()
			switch {
			case err == nil:
				w.acked = append(w.acked, id)
			case isReadOnly(err):
				w.readOnly++
			default: // ended by the freeze: this id may or may not be in
				_ = c.Close(ctx)
				c = nil
			}
			w.mu.Unlock()
			if err != nil {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	return w
}

func (w *writer) counts() (acked, readOnly int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), w.readOnly
}

func (w *writer) finish() []int64 {
	close(w.stop)
	<-w.done
	return w.acked
}

func TestNoAcknowledgedWriteIsMissingFromTheCopy(t *testing.T) {
	ctx := context.Background()
	for _, m := range []Method{Dump, Template} {
		t.Run(string(m), func(t *testing.T) {
			src, to := "lw_src_"+strings.ToLower(string(m)), "lw_copy_"+strings.ToLower(string(m))
			createDB(t, src, appSQL)
			w := startWriter(src)
			eventually(t, "the writer writes", func() bool { n, _ := w.counts(); return n >= 200 })
			if _, err := Freeze(ctx, admin(), src); err != nil {
				w.finish()
				t.Fatal(err)
			}
			eventually(t, "writes fail as read-only", func() bool { _, ro := w.counts(); return ro >= 5 })
			ackedAtFreeze, _ := w.counts()
			if _, err := Clone(ctx, admin(), cloneSpec(t, m, src, to)); err != nil {
				w.finish()
				t.Fatal(err)
			}
			acked := w.finish()
			if len(acked) != ackedAtFreeze {
				t.Errorf("%d writes were acknowledged after the freeze took effect", len(acked)-ackedAtFreeze)
			}
			c := connectTo(t, to)
			rows, err := c.Query(ctx, "SELECT id FROM writes")
			if err != nil {
				t.Fatal(err)
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				t.Fatal(err)
			}
			in := map[int64]bool{}
			for _, id := range ids {
				in[id] = true
			}
			for _, id := range acked {
				if !in[id] {
					t.Fatalf("acknowledged write %d is missing from the copy (%d acknowledged, %d copied)", id, len(acked), len(ids))
				}
			}
			sameSums(t, "copy of the written database", mustSums(t, to), mustSums(t, src))
			_, ro := w.counts()
			t.Logf("%s: %d writes acknowledged before the freeze, all in the copy; %d failed as read-only", m, len(acked), ro)
		})
	}
}
