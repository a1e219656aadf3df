package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// pgLibDir is where Debian installs each PostgreSQL major version.
const pgLibDir = "/usr/lib/postgresql"

// FindTool returns the path of a PostgreSQL program (pg_dump, pg_restore,
// psql, initdb, ...): from PATH, else from the newest
// /usr/lib/postgresql/*/bin.
func FindTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if dir := NewestBinDir(); dir != "" {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("cannot find the PostgreSQL program %s on PATH or in %s/*/bin: install PostgreSQL's client programs", name, pgLibDir)
}

// NewestBinDir returns the newest /usr/lib/postgresql/<version>/bin, or "".
func NewestBinDir() string {
	dirs, _ := filepath.Glob(filepath.Join(pgLibDir, "*", "bin"))
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) < versionOf(dirs[j]) })
	if len(dirs) == 0 {
		return ""
	}
	return dirs[len(dirs)-1]
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// ChildEnv returns base without any PG* variable, plus the libpq variables
// that point a PostgreSQL program at c: the password travels in
// PGPASSWORD, never in arguments, so it shows in no process listing.
func ChildEnv(base []string, c Conn, appName string) []string {
	env := make([]string, 0, len(base)+8)
	for _, kv := range base {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"PGHOST="+c.Host,
		"PGPORT="+strconv.Itoa(c.port()),
		"PGUSER="+c.User,
		"PGDATABASE="+c.database(),
		"PGCONNECT_TIMEOUT=10",
	)
	if c.Password != "" {
		env = append(env, "PGPASSWORD="+c.Password)
	}
	if c.SSLMode != "" {
		env = append(env, "PGSSLMODE="+c.SSLMode)
	}
	if appName != "" {
		env = append(env, "PGAPPNAME="+appName)
	}
	return env
}

// Command prepares a PostgreSQL program connected to c (through its
// environment). base is the environment to start from (os.Environ()
// normally, minus anything the child must not see).
func Command(ctx context.Context, tool string, c Conn, base []string, appName string, args ...string) (*exec.Cmd, error) {
	path, err := FindTool(tool)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = ChildEnv(base, c, appName)
	return cmd, nil
}
