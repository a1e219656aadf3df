// Command demo-site is the tiny web server the local cluster's demos and e2e
// tests deploy: GET / answers its VERSION (and, when a database is
// configured, the row count of a table in it), GET /healthz answers ok, and
// POST /items (form or query parameter note) inserts a row into the table,
// answering 201 with its id once committed; a database error answers 503
// with the error and its SQLSTATE (e.g. 25006 when the database is
// read-only), so a client can tell a refused write from an acknowledged one.
// All answers are JSON. It listens on $LISTEN_ADDR, else 127.0.0.1:$PORT,
// else 127.0.0.1:8080. After SIGTERM it keeps serving for $DRAIN_DELAY
// (default 2s), the time Services take to drop the pod, so that no client
// that resolved it just before is refused; then it shuts down gracefully.
//
// The database is $DATABASE_URL, or built from DATABASE_HOST, DATABASE_PORT,
// DATABASE_USER, DATABASE_PASSWORD and DATABASE_NAME; the table is
// $DATABASE_TABLE (default "items").
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	addr := listenAddr()
	s := &site{version: os.Getenv("VERSION"), table: envOr("DATABASE_TABLE", "items")}
	if dsn := databaseURL(); dsn != "" {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return fmt.Errorf("cannot configure database: %w", err)
		}
		defer pool.Close()
		s.db = pool
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// /metrics in Prometheus' text format: demo_error_ratio is the share
	// of failing requests this version claims (ERROR_RATIO, default 0),
	// for the metric checks of the e2e suite and the demo.
	ratio := envOr("ERROR_RATIO", "0")
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE demo_error_ratio gauge\ndemo_error_ratio %s\n", ratio)
	})
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("POST /items", s.addItem)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	log.Printf("demo-site %q listening on %s", s.version, addr)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	drain := drainDelay()
	log.Printf("demo-site %q stopping: serving %s more while Services drop this pod", s.version, drain)
	time.Sleep(drain)
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type site struct {
	version string
	table   string
	db      *pgxpool.Pool
}

type indexResponse struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname,omitempty"`
	Table    string `json:"table,omitempty"`
	Rows     *int64 `json:"rows,omitempty"`
	DBError  string `json:"dbError,omitempty"`
}

func (s *site) index(w http.ResponseWriter, r *http.Request) {
	host, _ := os.Hostname()
	resp := indexResponse{Version: s.version, Hostname: host}
	code := http.StatusOK
	if s.db != nil {
		resp.Table = s.table
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		var n int64
		q := "SELECT count(*) FROM " + pgx.Identifier{s.table}.Sanitize()
		if err := s.db.QueryRow(ctx, q).Scan(&n); err != nil {
			resp.DBError, code = err.Error(), http.StatusServiceUnavailable
		} else {
			resp.Rows = &n
		}
	}
	writeJSON(w, code, resp)
}

type itemResponse struct {
	ID       int64  `json:"id,omitempty"`
	Version  string `json:"version"`
	DBError  string `json:"dbError,omitempty"`
	SQLState string `json:"sqlstate,omitempty"`
}

// addItem inserts a row and answers 201 only once it is committed: a client
// counts a write as acknowledged on 201 alone.
func (s *site) addItem(w http.ResponseWriter, r *http.Request) {
	resp := itemResponse{Version: s.version}
	if s.db == nil {
		resp.DBError = "no database configured"
		writeJSON(w, http.StatusServiceUnavailable, resp)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	q := "INSERT INTO " + pgx.Identifier{s.table}.Sanitize() + " (note) VALUES ($1) RETURNING id"
	var err error
	for range 8 { // at most every pooled connection once, and one new
		err = s.db.QueryRow(ctx, q, r.FormValue("note")).Scan(&resp.ID)
		// A pooled connection the server has ended (a database freeze ends
		// sessions) can fail before anything is sent, e.g. while pgx
		// deallocates a statement an earlier error invalidated: the INSERT
		// never reached the server, so another connection may try it. One
		// ended while the INSERT ran (SQLSTATE 57P01) was not acknowledged:
		// it is tried again too (in the rare case that its commit made it
		// before the session ended, the row stays, unacknowledged).
		if err == nil || !pgconn.SafeToRetry(err) && !sessionEnded(err) {
			break
		}
	}
	if err != nil {
		resp.DBError = err.Error()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			resp.SQLState = pgErr.Code
		}
		writeJSON(w, http.StatusServiceUnavailable, resp)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

// sessionEnded tells whether the server ended the session a statement ran
// on (admin_shutdown: pg_terminate_backend, as a freeze does).
func sessionEnded(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57P01"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func listenAddr() string {
	if a := os.Getenv("LISTEN_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:" + envOr("PORT", "8080")
}

// databaseURL is $DATABASE_URL or one built from the DATABASE_* parts; "" when none is set.
func databaseURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	host := os.Getenv("DATABASE_HOST")
	if host == "" {
		return ""
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(host, envOr("DATABASE_PORT", "5432")),
		Path: "/" + envOr("DATABASE_NAME", "postgres"), RawQuery: "sslmode=" + envOr("DATABASE_SSLMODE", "disable")}
	if user := os.Getenv("DATABASE_USER"); user != "" {
		u.User = url.UserPassword(user, os.Getenv("DATABASE_PASSWORD"))
	}
	return u.String()
}

func drainDelay() time.Duration {
	d, err := time.ParseDuration(envOr("DRAIN_DELAY", "2s"))
	if err != nil || d < 0 {
		return 2 * time.Second
	}
	return d
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
