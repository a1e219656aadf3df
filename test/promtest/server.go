package promtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/understudy-dev/understudy/test/poll"
)

// Server is a real Prometheus server, built from its Go module (`make
// prometheus`), started on loopback with a scrape config of the test's.
type Server struct {
	// URL is the server's address, http://127.0.0.1:<port>.
	URL string
	cmd *exec.Cmd
	dir string
	log *os.File
}

// Binary is $PROMETHEUS_BIN (the Makefile exports it), else
// bin/prometheus-<PROMETHEUS_VERSION>/prometheus with the version the
// Makefile pins. A missing binary is an error that says to run `make
// prometheus`, so that no test skips.
func Binary() (string, error) {
	if b := os.Getenv("PROMETHEUS_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("no prometheus at %s ($PROMETHEUS_BIN): run `make prometheus`", b)
		}
		return b, nil
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^PROMETHEUS_VERSION \?= (\S+)$`).FindSubmatch(mk)
	if m == nil {
		return "", errors.New("no PROMETHEUS_VERSION in the Makefile")
	}
	bin := filepath.Join(root, "bin", "prometheus-"+string(m[1]), "prometheus")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no prometheus at %s: run `make prometheus`", bin)
	}
	return bin, nil
}

// Start runs Prometheus scraping targets (host:port on loopback) every
// interval, and waits until it is ready.
func Start(targets []string, interval time.Duration) (*Server, error) {
	return start(fmt.Sprintf("static_configs:\n  - targets: ['%s']\n", strings.Join(targets, "', '")), interval)
}

// StartFileSD runs Prometheus scraping the targets (and their labels)
// that the test writes to sdFile as file_sd JSON (WriteTargets), read
// again every second.
func StartFileSD(sdFile string, interval time.Duration) (*Server, error) {
	return start(fmt.Sprintf("file_sd_configs:\n  - files: ['%s']\n    refresh_interval: 1s\n", sdFile), interval)
}

func start(discovery string, interval time.Duration) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "prometheus-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	port, err := freePort()
	if err != nil {
		return nil, s.fail(err)
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: %s\n  scrape_timeout: %s\nscrape_configs:\n- job_name: site\n  %s", interval, interval, discovery)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		return nil, s.fail(err)
	}
	if s.log, err = os.Create(filepath.Join(dir, "prometheus.log")); err != nil {
		return nil, s.fail(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.URL = "http://" + addr
	s.cmd = exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Killed with the test binary, should it die without Stop (a panic,
	// the test timeout), as test/localcluster's processes are.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, s.fail(err)
	}
	ready := func() error {
		resp, err := http.Get(s.URL + "/-/ready")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready answered %s", resp.Status)
		}
		return nil
	}
	if err := poll.Wait(context.Background(), 100*time.Millisecond, 60*time.Second, ready); err != nil {
		return nil, s.fail(fmt.Errorf("prometheus was not ready within 60s: %w", err))
	}
	return s, nil
}

func (s *Server) fail(err error) error {
	logs := s.Logs()
	_ = s.Stop()
	if logs != "" {
		return fmt.Errorf("%w; prometheus said:\n%s", err, logs)
	}
	return err
}

// Logs are what the server printed.
func (s *Server) Logs() string {
	raw, _ := os.ReadFile(filepath.Join(s.dir, "prometheus.log"))
	return string(raw)
}

// Stop ends the server and removes its data.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
	if s.log != nil {
		_ = s.log.Close()
	}
	return os.RemoveAll(s.dir)
}

// WaitForValue waits until query's first sample equals want: the
// target's latest value was scraped.
func (s *Server) WaitForValue(ctx context.Context, query string, want float64, timeout time.Duration) error {
	c, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		return err
	}
	var last model.Value
	reached := func() error {
		v, _, err := promv1.NewAPI(c).Query(ctx, query, time.Time{})
		if err != nil {
			return err
		}
		last = v
		if vec, ok := v.(model.Vector); ok && len(vec) > 0 && float64(vec[0].Value) == want {
			return nil
		}
		return poll.ErrNotYet
	}
	if err := poll.Wait(ctx, 200*time.Millisecond, timeout, reached); err != nil {
		return fmt.Errorf("%s did not reach %v within %s (last: %v): %w", query, want, timeout, last, err)
	}
	return nil
}

// WriteTargets writes file_sd JSON: each target group's addresses and labels.
func WriteTargets(sdFile string, groups map[string]map[string]string) error {
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	var out []group
	for addr, labels := range groups {
		out = append(out, group{Targets: []string{addr}, Labels: labels})
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return err
	}
	tmp := sdFile + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, sdFile)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
