package pgtest

import (
	"context"
	"testing"

	"github.com/understudy-dev/understudy/internal/postgres"
)

func TestServerAcceptsPasswordOverTCP(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	ctx := context.Background()
	conn, err := postgres.Connect(ctx, s.Conn(""), "pgtest")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		t.Fatalf("superuser: %v %v", super, err)
	}
	bad := s.Conn("")
	bad.Password = "wrong"
	if c, err := postgres.Connect(ctx, bad, "pgtest"); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted: password authentication is not in force")
	}
}
