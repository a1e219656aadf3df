//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writer POSTs /items to a Service through the node agent's Service proxy
// without pause, each with a note of its own, and records every answer:
// nothing is retried, so an acknowledged write is one the site said it
// committed, and every other answer is kept to be judged.
type writer struct {
	addr string
	http *http.Client

	mu  sync.Mutex
	res writes

	cancel context.CancelFunc
	done   chan struct{}
}

// write is one POST and its answer.
type write struct {
	note string
	at   time.Time // when the answer came
	// status is the HTTP status, 0 when the request failed (err).
	status   int
	id       int64
	version  string
	sqlstate string
	err      string
}

type writes []write

// startWriter starts writing to the Service's port 80; it stops when the
// test ends at the latest.
func startWriter(t *testing.T, ns, svc string) *writer {
	t.Helper()
	var addr string
	Eventually(t, 30*time.Second, "service "+svc+" served by the node agent", func() (bool, error) {
		var err error
		addr, err = env.ServiceProxyAddress(ns, svc, 80)
		return err == nil, err
	})
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{addr: addr, cancel: cancel, done: make(chan struct{}),
		// A fresh connection per request, so the proxy picks a backend from
		// the Service's current endpoints each time.
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	go w.run(ctx)
	t.Cleanup(w.stop)
	return w
}

func (w *writer) run(ctx context.Context) {
	defer close(w.done)
	for seq := 1; ctx.Err() == nil; seq++ {
		r := w.once(ctx, "w"+strconv.Itoa(seq))
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		w.res = append(w.res, r)
		w.mu.Unlock()
	}
}

func (w *writer) once(ctx context.Context, note string) write {
	r := write{note: note}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+w.addr+"/items",
		strings.NewReader(url.Values{"note": {note}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := w.http.Do(req)
	if err != nil {
		r.err = err.Error()
		r.at = time.Now()
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r.at = time.Now()
	if err != nil {
		r.err = err.Error()
		return r
	}
	var v struct {
		ID       int64  `json:"id"`
		Version  string `json:"version"`
		DBError  string `json:"dbError"`
		SQLState string `json:"sqlstate"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		r.err = fmt.Sprintf("status %d: %v: %s", resp.StatusCode, err, body)
		return r
	}
	r.status, r.id, r.version, r.sqlstate, r.err = resp.StatusCode, v.ID, v.Version, v.SQLState, v.DBError
	if r.status == http.StatusCreated && r.id == 0 {
		r.err = "201 without an id: " + string(body)
	}
	return r
}

func (w *writer) stop() {
	w.cancel()
	<-w.done
}

// snapshot returns the answers so far.
func (w *writer) snapshot() writes {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append(writes(nil), w.res...)
}

// waitAck waits until version acknowledged n writes answered after since.
func (w *writer) waitAck(t *testing.T, version string, since time.Time, n int) {
	t.Helper()
	Eventually(t, 60*time.Second, fmt.Sprintf("%d writes acknowledged by %s", n, version), func() (bool, error) {
		got := 0
		for _, a := range w.snapshot().acked(version) {
			if a.at.After(since) {
				got++
			}
		}
		res := w.snapshot()
		last := "none"
		if len(res) > 0 {
			r := res[len(res)-1]
			last = fmt.Sprintf("status %d from %q sqlstate %q %s", r.status, r.version, r.sqlstate, r.err)
		}
		return got >= n, fmt.Errorf("%d so far; last answer: %s", got, last)
	})
}

// acked returns the writes acknowledged (201 with an id) by the versions.
func (ws writes) acked(versions ...string) []write {
	var out []write
	for _, r := range ws {
		for _, v := range versions {
			if r.status == http.StatusCreated && r.id != 0 && r.version == v {
				out = append(out, r)
			}
		}
	}
	return out
}

// refusals counts the 503 answers by SQLSTATE.
func (ws writes) refusals() map[string]int {
	out := map[string]int{}
	for _, r := range ws {
		if r.status == http.StatusServiceUnavailable {
			out[r.sqlstate]++
		}
	}
	return out
}

func (ws writes) refusedWith(sqlstate string) int { return ws.refusals()[sqlstate] }

// waitEvent waits for an event with the reason in ns and returns it.
func waitEvent(t *testing.T, ns, reason string) *eventsv1.Event {
	t.Helper()
	var found *eventsv1.Event
	Eventually(t, 30*time.Second, "event "+reason, func() (bool, error) {
		evs, err := env.Client.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i := range evs.Items {
			if evs.Items[i].Reason == reason {
				found = &evs.Items[i]
				return true, nil
			}
		}
		return false, fmt.Errorf("none among %d events", len(evs.Items))
	})
	return found
}
