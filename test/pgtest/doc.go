// Package pgtest starts a throwaway PostgreSQL server for tests: initdb
// into a temporary directory, a free loopback port (127.0.0.1 only, unix
// sockets inside the directory), fsync off, a superuser with a password so
// tests exercise password authentication over TCP, and everything stopped
// and removed at the end. Start one per test package, from TestMain
// (Main is that TestMain).
//
// When the tests run as root (as here and in CI) initdb and postgres, which
// refuse root, run as the "postgres" OS user that Debian's postgresql
// package creates. A machine without PostgreSQL fails the tests with a
// message to run hack/install-deps.sh: they never skip.
package pgtest
