package controllers_test

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// uniqueBase is a base name of its own for each test and run: the tests
// share one server.
func uniqueBase(t *testing.T, prefix string) string {
	return prefix + "_" + strings.ReplaceAll(strings.TrimPrefix(newNamespace(t), "t-"), "-", "")
}

func TestSiteDeploymentAdoptsTheDatabaseItAlreadyHas(t *testing.T) {
	srv := postgresServer(t)
	base := uniqueBase(t, "adopt")
	sqlExec(t, srv, "postgres", "DO $$ BEGIN CREATE ROLE adopt_owner; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
		"CREATE DATABASE "+base+" OWNER adopt_owner")
	sqlExec(t, srv, base, "CREATE TABLE items (id int PRIMARY KEY, note text)", "INSERT INTO items VALUES (1, 'years of data')")
	s := databaseSite(t, srv, base, "1")
	s.base = base
	r1 := s.revision()
	eventually(t, "blue's Secret naming the existing database", func() error {
		if sec := colorSecret(s, v1.Blue); sec["DATABASE_NAME"] != base {
			return fmt.Errorf("DATABASE_NAME %q", sec["DATABASE_NAME"])
		}
		return nil
	})
	s.available(v1.Blue, r1, 1)
	sd := s.waitActive(v1.PhaseHealthy, v1.Blue, r1)
	if d := sd.Status.Database; d.ActiveName != base {
		t.Fatalf("status.database %+v", d)
	}
	if n := sqlInt(t, srv, base, "SELECT count(*) FROM items"); n != 1 {
		t.Fatalf("adopted database has %d rows", n)
	}
	if owner := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+base+"' AND pg_get_userbyid(datdba) = 'adopt_owner'"); owner != 1 {
		t.Fatal("the adopted database changed owner")
	}
	if n := sqlInt(t, srv, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+base+"_blue'"); n != 0 {
		t.Fatal("an empty color database was created beside the adopted one")
	}
	if ev := s.eventWith(v1.EventDatabaseAdopted); !strings.Contains(ev.Note, base) {
		t.Fatalf("event %s", ev.Note)
	}
}

func TestSiteDeploymentRefusesToGuessBetweenLeftovers(t *testing.T) {
	srv := postgresServer(t)
	base := uniqueBase(t, "amb")
	sqlExec(t, srv, "postgres", "CREATE DATABASE "+base, "CREATE DATABASE "+base+"_green")
	s := databaseSite(t, srv, base, "1")
	eventually(t, "a DatabaseAmbiguous condition", func() error {
		sd := s.get()
		c := condition(sd, v1.ConditionStalled)
		if c == nil || c.Reason != v1.ReasonDatabaseAmbiguous || !strings.Contains(c.Message, base+", "+base+"_green") {
			return fmt.Errorf("Stalled %+v", c)
		}
		if kstatusOf(t, sd) != status.FailedStatus {
			return fmt.Errorf("kstatus %s", kstatusOf(t, sd))
		}
		return nil
	})
	if s.deployment(v1.Blue) != nil {
		t.Fatal("pods were started on an ambiguous server")
	}
	// No database is chosen, so no color is given a connection Secret: one
	// with an empty DATABASE_NAME would connect to the role's own database.
	for _, c := range []v1.Color{v1.Blue, v1.Green} {
		if sec := colorSecret(s, c); sec != nil {
			t.Errorf("%s was given a database Secret (DATABASE_NAME %q) while no database is chosen", c, sec["DATABASE_NAME"])
		}
	}
	// Following the message (drop the stray one) lets the site adopt the rest.
	sqlExec(t, srv, "postgres", "DROP DATABASE "+base+"_green")
	s.update(func(sd *v1.SiteDeployment) { sd.Annotations = map[string]string{"poke": "1"} })
	eventually(t, "adoption once the leftover is gone", func() error {
		if d := s.get().Status.Database; d == nil || d.ActiveName != base {
			return fmt.Errorf("status.database %+v", d)
		}
		if sec := colorSecret(s, v1.Blue); sec["DATABASE_NAME"] != base {
			return fmt.Errorf("blue's DATABASE_NAME %q", sec["DATABASE_NAME"])
		}
		return nil
	})
}
