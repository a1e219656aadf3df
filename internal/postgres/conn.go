package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPort is PostgreSQL's port when none is given.
const DefaultPort = 5432

// Conn is where and as whom to connect. It carries a password: never log
// it, never pass it in a child's arguments (see ChildEnv).
type Conn struct {
	Host     string
	Port     int
	User     string
	Password string
	SSLMode  string
	// Database is the database to connect to; empty means the maintenance
	// database (MaintenanceDB).
	Database string
}

// MaintenanceDB is the database used for cluster-wide statements (creating,
// renaming and dropping other databases).
const MaintenanceDB = "postgres"

// EnvNames names the environment variables one connection is read from.
type EnvNames struct {
	Host, Port, User, Password, SSLMode string
}

// FromEnv reads a connection from the environment variables in names, using
// lookup (os.Getenv in production). Host and user are required; the port
// defaults to 5432 and sslmode to "prefer".
func FromEnv(lookup func(string) string, names EnvNames) (Conn, error) {
	c := Conn{
		Host:     strings.TrimSpace(lookup(names.Host)),
		User:     strings.TrimSpace(lookup(names.User)),
		Password: lookup(names.Password),
		SSLMode:  strings.TrimSpace(lookup(names.SSLMode)),
		Port:     DefaultPort,
	}
	if c.Host == "" {
		return Conn{}, fmt.Errorf("environment variable %s is empty: set it to the server's host name", names.Host)
	}
	if c.User == "" {
		return Conn{}, fmt.Errorf("environment variable %s is empty: set it to the user to connect as", names.User)
	}
	if p := strings.TrimSpace(lookup(names.Port)); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return Conn{}, fmt.Errorf("environment variable %s is %q, not a port number", names.Port, p)
		}
		c.Port = n
	}
	if c.SSLMode == "" {
		c.SSLMode = "prefer"
	}
	return c, nil
}

// WithDatabase returns a copy of c that connects to db.
func (c Conn) WithDatabase(db string) Conn {
	c.Database = db
	return c
}

func (c Conn) database() string {
	if c.Database == "" {
		return MaintenanceDB
	}
	return c.Database
}

func (c Conn) port() int {
	if c.Port == 0 {
		return DefaultPort
	}
	return c.Port
}

// String describes the connection without its password, for logs.
func (c Conn) String() string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.port(), c.database())
}

// SameDatabase reports whether a and b name the same database on the same
// server (host compared case-insensitively, loopback spellings treated as
// one).
func SameDatabase(a, b Conn) bool {
	return normalHost(a.Host) == normalHost(b.Host) && a.port() == b.port() && a.database() == b.database()
}

func normalHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	switch h {
	case "localhost", "::1", "[::1]", "127.0.0.1":
		return "127.0.0.1"
	}
	return h
}

// dsn renders c as a keyword/value connection string with every value
// quoted, so no value can inject another keyword.
func (c Conn) dsn() string {
	q := func(v string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	parts := []string{
		"host=" + q(c.Host),
		"port=" + strconv.Itoa(c.port()),
		"user=" + q(c.User),
		"dbname=" + q(c.database()),
		"connect_timeout=10",
	}
	if c.Password != "" {
		parts = append(parts, "password="+q(c.Password))
	}
	if c.SSLMode != "" {
		parts = append(parts, "sslmode="+q(c.SSLMode))
	}
	return strings.Join(parts, " ")
}

// Config returns the pgx configuration for c. appName is reported to the
// server as application_name.
func (c Conn) Config(appName string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(c.dsn())
	if err != nil {
		return nil, fmt.Errorf("cannot parse connection settings for %s: %w", c, err)
	}
	if appName != "" {
		cfg.RuntimeParams["application_name"] = appName
	}
	return cfg, nil
}

// Connect opens one connection to c's database.
func Connect(ctx context.Context, c Conn, appName string) (*pgx.Conn, error) {
	cfg, err := c.Config(appName)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", c, err)
	}
	return conn, nil
}

// ConnInfo renders c as a libpq connection string, for a server that
// connects on its own (a subscription's CONNECTION). It carries the
// password: never log it.
func (c Conn) ConnInfo() string { return c.dsn() }
