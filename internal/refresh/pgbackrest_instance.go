package refresh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// instancePort only names the throwaway instance's socket file: it
// listens on no TCP port.
const instancePort = 5432

// osUser is the OS user the throwaway instance runs as.
type osUser struct{ uid, gid uint32 }

// instanceUser is nil when the runner is not root (in its image); as root
// (tests, a node agent) it is the "postgres" OS user, since PostgreSQL
// refuses to run as root.
func instanceUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("the runner runs as root, which PostgreSQL refuses, and there is no \"postgres\" OS user to run the throwaway instance as: run the runner as another user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &osUser{uid: uint32(uid), gid: uint32(gid)}, nil
}

// instance is a throwaway PostgreSQL instance restored from a physical
// backup into a directory of the scratch volume. Its settings are the
// runner's, not production's: production's configuration files and
// preloaded libraries are ignored, it listens only on a unix socket in
// its own directory, and anyone there is trusted.
type instance struct {
	work string // the directory of everything: data, sock, lock, log, ...
	user *osUser
	env  []string
	jobs int

	cmd  *exec.Cmd
	done chan error
	log  *postgres.TailBuffer
}

func (in *instance) data() string { return filepath.Join(in.work, "data") }
func (in *instance) sock() string { return filepath.Join(in.work, "sock") }

// prepare lays out the work directory: pgBackRest's lock, log and spool
// directories, an empty pgBackRest configuration (no /etc file applies),
// and the instance's own configuration files.
func (in *instance) prepare() error {
	for _, d := range []string{"lock", "log", "spool", "conf.d", "sock", "tablespaces"} {
		if err := os.Mkdir(filepath.Join(in.work, d), 0o700); err != nil {
			return fmt.Errorf("cannot prepare the throwaway instance's directory: %w", err)
		}
	}
	files := map[string]string{
		"pgbackrest.conf": "",
		"postgresql.conf": "",
		"pg_ident.conf":   "",
		"pg_hba.conf":     "local all all trust\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(in.work, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("cannot prepare the throwaway instance's directory: %w", err)
		}
	}
	if in.user == nil {
		return nil
	}
	return filepath.WalkDir(in.work, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(in.user.uid), int(in.user.gid))
	})
}

// pgbackrest runs a pgBackRest command as the instance's user.
func (r *run) pgbackrest(ctx context.Context, in *instance, stdout io.Writer, args ...string) error {
	path, err := exec.LookPath("pgbackrest")
	if err != nil {
		return errors.New("pgBackRest is not installed in the runner's image (no pgbackrest on PATH)")
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env, cmd.Dir = in.env, in.work
	runAs(cmd, in.user)
	return r.runCmd(ctx, "pgbackrest "+args[0], cmd, stdout, nil)
}

// start starts PostgreSQL of the backup's major version on the restored
// data directory; recovery begins at once.
func (in *instance) start(stderr io.Writer) error {
	version, err := os.ReadFile(filepath.Join(in.data(), "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("the restored data directory has no PG_VERSION: %w", err)
	}
	v := strings.TrimSpace(string(version))
	bin := filepath.Join("/usr/lib/postgresql", v, "bin", "postgres")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("the backup is of PostgreSQL %s and the runner has no PostgreSQL %s server (%s): install postgresql-%s in the runner's image", v, v, bin, v)
	}
	set := func(k, v string) []string { return []string{"-c", k + "=" + v} }
	args := []string{"-D", in.data()}
	for _, kv := range [][2]string{
		{"config_file", filepath.Join(in.work, "postgresql.conf")},
		{"hba_file", filepath.Join(in.work, "pg_hba.conf")},
		{"ident_file", filepath.Join(in.work, "pg_ident.conf")},
		{"listen_addresses", ""},
		{"port", strconv.Itoa(instancePort)},
		{"unix_socket_directories", in.sock()},
		{"hot_standby", "off"}, // no connection before recovery ends
		{"archive_mode", "off"},
		{"shared_preload_libraries", ""},
		{"ssl", "off"},
		{"huge_pages", "off"},
		{"logging_collector", "off"},
		{"log_destination", "stderr"},
		{"max_connections", strconv.Itoa(in.jobs + 10)},
		{"max_parallel_workers_per_gather", "0"},
		{"shared_buffers", "128MB"},
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"jit", "off"},
	} {
		args = append(args, set(kv[0], kv[1])...)
	}
	in.log = &postgres.TailBuffer{Max: 8192}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = in.env, in.work
	w := io.MultiWriter(in.log, stderr)
	cmd.Stdout, cmd.Stderr = w, w
	setParentDeathSignal(cmd)
	runAs(cmd, in.user)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start the throwaway PostgreSQL instance: %w", err)
	}
	in.cmd, in.done = cmd, make(chan error, 1)
	go func() { in.done <- cmd.Wait() }()
	return nil
}

// conn is how the dump reaches the instance: its socket, as role.
func (in *instance) conn(role, db string) postgres.Conn {
	return postgres.Conn{Host: in.sock(), Port: instancePort, User: role, Database: db, SSLMode: "disable"}
}

// waitRecovered waits until the instance has recovered and accepts
// connections as role to db. The instance stopping first is a failed
// recovery; its own last words say why.
func (in *instance) waitRecovered(ctx context.Context, role, db string) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := postgres.Connect(ctx, in.conn(role, db), Tool)
		if err == nil {
			var recovering bool
			err = c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering)
			_ = c.Close(ctx)
			if err == nil && !recovering {
				return nil
			}
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "28000" {
			return fmt.Errorf("the backup has no role %q to dump as: set spec.source.pgbackrest.role to a superuser of the backed-up cluster", role)
		}
		select {
		case werr := <-in.done:
			in.done <- werr
			return fmt.Errorf("PostgreSQL stopped while recovering (%v): %s; check that the repository's WAL archive holds every segment from the backup's start to its end (or to the target time): pgbackrest check and pgbackrest info on the production server", werr, lastWords(in.log.String()))
		case <-ctx.Done():
			return fmt.Errorf("recovery stopped: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// lastWords picks the FATAL and PANIC lines of a PostgreSQL log (the
// whole tail when it has none).
func lastWords(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "FATAL:") || strings.Contains(line, "PANIC:") || strings.Contains(line, "ERROR:") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	if len(out) == 0 {
		return strings.TrimSpace(log)
	}
	return strings.Join(out, "; ")
}

// stop shuts the instance down fast (it holds nothing worth a checkpoint)
// and kills it if it lingers.
func (in *instance) stop() {
	if in.cmd == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-in.done:
	case <-time.After(20 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.done
	}
	in.cmd = nil
}
