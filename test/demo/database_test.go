package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/test/localcluster"
)

// The demo's production site writes with curl as its application role: POST
// /items answers 201 and the row counts, and while production is frozen for
// a schema release the same POST is refused with SQLSTATE 25006.
func TestDemoSiteWritesAsItsApplicationRole(t *testing.T) {
	ctx := context.Background()
	roles := newAppRoles()
	pg, err := startDatabase(ctx, t.TempDir(), roles)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	site := startDemoSite(t, "DATABASE_HOST="+pg.Host, "DATABASE_PORT="+strconv.Itoa(pg.Port),
		"DATABASE_USER="+prodApp, "DATABASE_PASSWORD="+roles[prodApp], "DATABASE_NAME="+prodDB, "DATABASE_TABLE=users")

	code, body := post(t, site)
	if code != http.StatusCreated {
		t.Fatalf("POST /items as %s: %d %v, want 201", prodApp, code, body)
	}
	if n, err := pg.QueryInt(ctx, prodDB, "SELECT count(*) FROM users WHERE note = 'hello'"); err != nil || n != 1 {
		t.Fatalf("rows with the note: %d, %v; want 1", n, err)
	}
	if err := pg.Exec(ctx, prodDB, "SET ROLE "+prodApp,
		"ALTER TABLE users ADD COLUMN IF NOT EXISTS plan text NOT NULL DEFAULT 'free'"); err != nil {
		t.Fatalf("the application role cannot migrate its table: %v", err)
	}

	if _, err := dbrelease.Freeze(ctx, pg.Conn(""), prodDB); err != nil {
		t.Fatal(err)
	}
	// The freeze ends the sessions it finds: a pooled connection's first
	// write may be told so (57P01); a new connection is read-only.
	for range 3 {
		code, body = post(t, site)
		if code != http.StatusServiceUnavailable || (body["sqlstate"] != "25006" && body["sqlstate"] != "57P01") {
			t.Fatalf("POST /items while frozen: %d %v, want 503 with sqlstate 25006", code, body)
		}
		if body["sqlstate"] == "25006" {
			return
		}
	}
	t.Fatalf("POST /items while frozen: %v, want sqlstate 25006 once the pool reconnects", body)
}

// startDemoSite builds and runs demo-site on a loopback port until the test
// ends, and returns its base URL once it answers.
func startDemoSite(t *testing.T, env ...string) string {
	t.Helper()
	root, err := localcluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "demo-site")
	build := exec.Command("go", "build", "-o", bin, "./test/cmd/demo-site")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cannot build demo-site: %v\n%s", err, out)
	}
	addr, err := localcluster.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), "LISTEN_ADDR="+addr, "DRAIN_DELAY=0s"), env...)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			resp, err := http.Get(base + "/healthz")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return true, nil
		})
	if err != nil {
		t.Fatalf("demo-site does not answer: %v\n%s", err, logs.String())
	}
	return base
}

// post is `curl -X POST -d note=hello URL/items`: the status and the JSON answer.
func post(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/items", url.Values{"note": {"hello"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(fmt.Errorf("cannot read the answer: %w", err))
	}
	return resp.StatusCode, body
}
