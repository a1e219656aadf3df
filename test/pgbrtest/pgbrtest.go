// Package pgbrtest keeps a real pgBackRest repository of a throwaway
// PostgreSQL server (test/pgtest) in a temporary directory, for tests that
// refresh from physical backups: the server archives its WAL into the
// repository with pgBackRest's archive-push, and Backup takes real
// backups. pgBackRest comes from Debian's package (hack/install-deps.sh);
// a machine without it fails the tests, they never skip.
package pgbrtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/understudy-dev/understudy/test/pgtest"
	"github.com/understudy-dev/understudy/test/s3test"
)

// Stanza is the repository's one stanza.
const Stanza = "main"

// Repo is a pgBackRest repository on a temporary directory.
type Repo struct {
	// Path is the repository's directory (repo1-path): on disk, or in the
	// bucket for a repository made by NewInS3.
	Path string
	// CAFile, for a repository in S3, is a copy of the S3 server's
	// certificate that the postgres OS user may read.
	CAFile string

	dir  string
	cred *syscall.Credential
	// repo is the [global] configuration of the repository.
	repo string
}

// New makes an empty repository. Start the server with ServerSettings,
// then Attach it.
func New() (*Repo, error) {
	if _, err := exec.LookPath("pgbackrest"); err != nil {
		return nil, errors.New("pgBackRest is not installed (no pgbackrest on PATH): run hack/install-deps.sh")
	}
	dir, err := os.MkdirTemp("", "pgbrtest-")
	if err != nil {
		return nil, err
	}
	r := &Repo{dir: dir, Path: filepath.Join(dir, "repo")}
	r.repo = "repo1-path=" + r.Path + "\n"
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, errors.New("running as root and there is no \"postgres\" OS user: run hack/install-deps.sh")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	for _, d := range []string{dir, r.Path, filepath.Join(dir, "lock"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
		if r.cred != nil {
			if err := os.Chown(d, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	// Readable by the runner's throwaway instance, which runs as another
	// user in some tests.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Repo) conf() string { return filepath.Join(r.dir, "pgbackrest.conf") }

// ServerSettings are the postgresql.conf settings that archive the
// server's WAL into the repository.
func (r *Repo) ServerSettings() map[string]string {
	return map[string]string{
		"wal_level":       "replica",
		"archive_mode":    "on",
		"archive_command": fmt.Sprintf("pgbackrest --config=%s --stanza=%s archive-push %%p", r.conf(), Stanza),
	}
}

// Attach points the stanza at srv (started with ServerSettings) and
// creates it.
func (r *Repo) Attach(srv *pgtest.Server) error {
	conf := fmt.Sprintf(`[global]
%slock-path=%s
log-path=%s
log-level-file=off
log-level-console=warn
start-fast=y
repo1-retention-full=100

[%s]
pg1-path=%s
pg1-socket-path=%s
pg1-port=%d
pg1-user=%s
`, r.repo, filepath.Join(r.dir, "lock"), filepath.Join(r.dir, "log"), Stanza, srv.DataDir(), srv.SocketDir(), srv.Port, srv.User)
	if err := os.WriteFile(r.conf(), []byte(conf), 0o644); err != nil {
		return err
	}
	_, err := r.run("stanza-create")
	return err
}

// Backup takes a backup (full, diff or incr) and returns its label.
func (r *Repo) Backup(typ string) (string, error) {
	if _, err := r.run("backup", "--type="+typ); err != nil {
		return "", err
	}
	out, err := r.run("info", "--output=json")
	if err != nil {
		return "", err
	}
	var info []struct {
		Backup []struct {
			Label string `json:"label"`
		} `json:"backup"`
	}
	if err := json.Unmarshal(out, &info); err != nil || len(info) == 0 || len(info[0].Backup) == 0 {
		return "", fmt.Errorf("cannot read the repository's info (%v): %s", err, out)
	}
	b := info[0].Backup
	return b[len(b)-1].Label, nil
}

// NewInS3 makes an empty repository at path /pgbackrest of bucket (which
// it creates) of store, a server started by s3test.StartTLS.
func NewInS3(ctx context.Context, store *s3test.Server, bucket string) (*Repo, error) {
	r, err := New()
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(store.CAFile)
	if err == nil {
		r.CAFile = filepath.Join(r.dir, "s3-ca.pem")
		err = os.WriteFile(r.CAFile, ca, 0o644)
	}
	if err == nil {
		err = store.CreateBucket(ctx, bucket)
	}
	u, perr := url.Parse(store.Endpoint)
	if err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		r.Remove()
		return nil, err
	}
	r.Path = "/pgbackrest"
	r.repo = fmt.Sprintf(`repo1-type=s3
repo1-path=%s
repo1-s3-endpoint=%s
repo1-storage-port=%s
repo1-s3-bucket=%s
repo1-s3-region=%s
repo1-s3-uri-style=path
repo1-s3-key=%s
repo1-s3-key-secret=%s
repo1-storage-ca-file=%s
`, r.Path, u.Hostname(), u.Port(), bucket, store.Region, store.AccessKeyID, store.SecretAccessKey, r.CAFile)
	return r, nil
}

// ArchiveDir is the directory of the stanza's archived WAL segments.
func (r *Repo) ArchiveDir() string { return filepath.Join(r.Path, "archive", Stanza) }

func (r *Repo) run(args ...string) ([]byte, error) {
	cmd := exec.Command("pgbackrest", append([]string{"--config=" + r.conf(), "--stanza=" + Stanza}, args...)...)
	cmd.Dir = r.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pgbackrest %s: %v: %s%s", args[0], err, stderr.Bytes(), stdout.Bytes())
	}
	return stdout.Bytes(), nil
}

// Remove deletes the repository.
func (r *Repo) Remove() { _ = os.RemoveAll(r.dir) }
