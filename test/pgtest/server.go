package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/proctest"
)

// Superuser is the name of the server's superuser.
const Superuser = "understudy"

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// Host and Port are the TCP address (always 127.0.0.1).
	Host string
	Port int
	// User and Password are the superuser's credentials.
	User     string
	Password string
	// Version is the server's major version, e.g. 15.
	Version int

	dir  string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// Options tune the server.
type Options struct {
	// Settings are extra postgresql.conf settings (name -> value).
	Settings map[string]string
}

// Conn returns the superuser's connection settings for db ("" = postgres).
func (s *Server) Conn(db string) postgres.Conn {
	return postgres.Conn{Host: s.Host, Port: s.Port, User: s.User, Password: s.Password, SSLMode: "disable", Database: db}
}

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// SocketDir is the directory of the server's unix socket.
func (s *Server) SocketDir() string { return s.dir }

// Env returns the environment variables PREFIX_HOST, PREFIX_PORT,
// PREFIX_USER, PREFIX_PASSWORD and PREFIX_SSLMODE for the superuser, as a
// pod's Secret references would fill them.
func (s *Server) Env(prefix string) []string {
	return []string{
		prefix + "_HOST=" + s.Host,
		prefix + "_PORT=" + strconv.Itoa(s.Port),
		prefix + "_USER=" + s.User,
		prefix + "_PASSWORD=" + s.Password,
		prefix + "_SSLMODE=disable",
	}
}

// Start initialises and starts a server. Call Stop when done.
func Start(o Options) (*Server, error) {
	bin := postgres.NewestBinDir()
	if bin == "" {
		return nil, errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin): run hack/install-deps.sh")
	}
	for _, tool := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			return nil, fmt.Errorf("PostgreSQL server program %s is missing in %s: run hack/install-deps.sh", tool, bin)
		}
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("cannot create a temporary directory: %w", err)
	}
	s := &Server{Host: "127.0.0.1", User: Superuser, Password: randomPassword(), dir: dir, log: filepath.Join(dir, "server.log")}
	s.Version, _ = strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	if err := s.initdb(bin, cred); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = s.start(bin, cred, o); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// credential returns the OS user to run the server as: nil when not root,
// else the "postgres" user.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root and there is no \"postgres\" OS user to run PostgreSQL as: run hack/install-deps.sh")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) chown(cred *syscall.Credential, paths ...string) error {
	if cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("cannot hand %s to the postgres user: %w", p, err)
		}
	}
	return nil
}

func (s *Server) initdb(bin string, cred *syscall.Credential) error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("cannot write the password file: %w", err)
	}
	if err := s.chown(cred, s.dir, pwfile); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(s.dir, "data"),
		"-U", s.User, "--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot initdb: %w\n%s", err, out)
	}
	return os.Remove(pwfile)
}

func (s *Server) start(bin string, cred *syscall.Credential, o Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	args := []string{"-D", filepath.Join(s.dir, "data"),
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories=" + s.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100",
	}
	for k, v := range o.Settings {
		args = append(args, "-c", k+"="+v)
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open the server log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start postgres: %w", err)
	}
	s.cmd, s.done = cmd, make(chan error, 1)
	go func() { s.done <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := postgres.Connect(ctx, s.Conn(""), "pgtest")
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		select {
		case werr := <-s.done:
			return fmt.Errorf("postgres exited (%v) while starting; log:\n%s", werr, s.Log())
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("postgres did not accept connections within 30 s: %w; log:\n%s", err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Log returns the tail of the server's log, for failure messages.
func (s *Server) Log() string { return proctest.Tail(s.log, 4000) }

// Stop shuts the server down (fast shutdown, then kill) and removes its
// directory.
func (s *Server) Stop() {
	proctest.Stop(s.cmd, s.done, syscall.SIGINT, 20*time.Second)
	s.cmd = nil
	_ = os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	// A quote and a backslash make sure quoting is exercised everywhere.
	return "pw'" + hex.EncodeToString(b) + `\x`
}

// Main is the TestMain of a package whose tests share one server: it
// starts one with o (as MustStart does), sets *srv to it, runs the tests,
// then calls each of after, stops the server and exits with the tests'
// code.
func Main(m *testing.M, srv **Server, o Options, after ...func()) {
	*srv = MustStart(o)
	code := m.Run()
	for _, f := range after {
		f()
	}
	(*srv).Stop()
	os.Exit(code)
}

// MustStart starts a server for a TestMain, exiting the test binary with a
// clear message when it cannot: tests never skip for a missing PostgreSQL.
func MustStart(o Options) *Server {
	s, err := Start(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: cannot start PostgreSQL: %v\n", strings.TrimSpace(err.Error()))
		os.Exit(1)
	}
	return s
}
