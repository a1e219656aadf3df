package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/jackc/pgx/v5"
	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

var (
	pgServer *pgtest.Server
	pgOnce   sync.Once
	pgErr    error
)

// postgresServer starts one real PostgreSQL for the tests that need one.
func postgresServer(t *testing.T) *pgtest.Server {
	t.Helper()
	pgOnce.Do(func() {
		pgServer, pgErr = pgtest.Start(pgtest.Options{
			// A prepared transaction holds a lock across a manager restart;
			// the replicated cutover needs logical decoding.
			Settings: map[string]string{"max_prepared_transactions": "4", "wal_level": "logical"}})
	})
	if pgErr != nil {
		t.Fatalf("cannot start PostgreSQL (run hack/install-deps.sh): %v", pgErr)
	}
	return pgServer
}

// databaseSite creates the SiteDeployment "shop" with spec.database on the
// base name base (one per test: the tests share one server).
func databaseSite(t *testing.T, srv *pgtest.Server, base, schema string, mutate ...func(*v1.SiteDeployment)) *site {
	t.Helper()
	ns := newNamespace(t)
	admin := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shop-db-admin", Namespace: ns}, StringData: map[string]string{
		"host": srv.Host, "port": strconv.Itoa(srv.Port), "username": srv.User, "password": srv.Password, "sslmode": "disable"}}
	if err := k8sClient.Create(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	sd := &v1.SiteDeployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns}, Spec: v1.SiteDeploymentSpec{
		Template: podTemplate("shop:1"),
		Service:  v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80}}},
		Database: &v1.DatabaseSpec{ConnectionSecretRef: v1.SecretReference{Name: "shop-db-admin"}, Name: base, SchemaRevision: schema},
	}}
	for _, m := range mutate {
		m(sd)
	}
	if err := k8sClient.Create(context.Background(), sd); err != nil {
		t.Fatal(err)
	}
	return &site{t: t, ns: ns, name: sd.Name, sd: sd, base: base}
}

func colorSecret(s *site, c v1.Color) map[string]string {
	sec := &corev1.Secret{}
	if err := k8sClient.Get(context.Background(), s.key(bluegreen.DatabaseSecretName("shop", c)), sec); err != nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range sec.Data {
		out[k] = string(v)
	}
	return out
}

func usesColorSecret(s *site, c v1.Color) error {
	d := s.deployment(c)
	if d == nil {
		return fmt.Errorf("no %s deployment", c)
	}
	for _, ctr := range d.Spec.Template.Spec.Containers {
		found := false
		for _, e := range ctr.EnvFrom {
			found = found || e.SecretRef != nil && e.SecretRef.Name == bluegreen.DatabaseSecretName("shop", c)
		}
		if !found {
			return fmt.Errorf("container %s of %s does not get its color's DATABASE_* settings", ctr.Name, c)
		}
	}
	return nil
}

func TestSiteDeploymentDatabasePerColorSecretsAndSharedDatabase(t *testing.T) {
	srv := postgresServer(t)
	s := databaseSite(t, srv, "shop", "1")
	r1 := s.revision()
	eventually(t, "blue's database Secret", func() error {
		if sec := colorSecret(s, v1.Blue); sec["DATABASE_NAME"] != "shop_blue" {
			return fmt.Errorf("secret %v", sec)
		}
		return usesColorSecret(s, v1.Blue)
	})
	sec := colorSecret(s, v1.Blue)
	u, err := url.Parse(sec["DATABASE_URL"])
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	pw, _ := u.User.Password()
	if u.User.Username() != srv.User || pw != srv.Password || u.Host != fmt.Sprintf("%s:%d", srv.Host, srv.Port) ||
		u.Path != "/shop_blue" || u.Query().Get("sslmode") != "disable" ||
		sec["DATABASE_HOST"] != srv.Host || sec["DATABASE_USER"] != srv.User || sec["DATABASE_PASSWORD"] != srv.Password {
		t.Fatalf("blue's settings do not connect to shop_blue: %v", sec)
	}
	c, err := postgres.Connect(context.Background(), srv.Conn("shop_blue"), "test")
	if err != nil {
		t.Fatalf("the blue database was not created: %v", err)
	}
	_ = c.Close(context.Background())

	s.available(v1.Blue, r1, 1)
	sd := s.waitActive(v1.PhaseHealthy, v1.Blue, r1)
	if sd.Status.Database == nil || sd.Status.Database.ActiveName != "shop_blue" || sd.Status.Database.SchemaRevision != "1" {
		t.Fatalf("status.database %+v", sd.Status.Database)
	}
	for what, obj := range map[string]any{"SiteDeployment": sd, "Deployment": s.deployment(v1.Blue)} {
		raw, _ := json.Marshal(obj)
		if strings.Contains(string(raw), srv.Password) {
			t.Fatalf("the database password appears in the %s", what)
		}
	}

	// Same schemaRevision: the candidate shares the active database.
	s.release("shop:2")
	r2 := s.revision()
	eventually(t, "green's database Secret", func() error {
		if sec := colorSecret(s, v1.Green); sec["DATABASE_NAME"] != "shop_blue" {
			return fmt.Errorf("secret %v", sec)
		}
		return usesColorSecret(s, v1.Green)
	})
	s.available(v1.Green, r2, 1)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
}

func TestSiteDeploymentDatabaseErrorIsACondition(t *testing.T) {
	s := newSite(t, "shop:1", func(sd *v1.SiteDeployment) {
		sd.Spec.Database = &v1.DatabaseSpec{ConnectionSecretRef: v1.SecretReference{Name: "missing-admin"}, Name: "nowhere", SchemaRevision: "1"}
	})
	eventually(t, "a DatabaseError condition", func() error {
		sd := s.get()
		c := condition(sd, v1.ConditionDegraded)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonDatabaseError || !strings.Contains(c.Message, "missing-admin") {
			return fmt.Errorf("Degraded condition %+v", c)
		}
		return nil
	})
	if got := kstatusOf(t, s.get()); got != status.FailedStatus {
		t.Fatalf("kstatus %s, want Failed", got)
	}
	if d := s.deployment(v1.Blue); d != nil {
		t.Fatal("a site whose database cannot be reached started pods")
	}
}

func TestSiteDeploymentPodsConnectAsTheApplicationRole(t *testing.T) {
	srv := postgresServer(t)
	sqlExec(t, srv, "postgres", "DO $$ BEGIN CREATE ROLE shop_app LOGIN PASSWORD 'app-secret'; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
	s := databaseSite(t, srv, "app_role", "1", func(sd *v1.SiteDeployment) {
		sd.Spec.Database.AppSecretRef = &v1.SecretReference{Name: "shop-db-app"}
	})
	app := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shop-db-app", Namespace: s.ns},
		StringData: map[string]string{"username": "shop_app", "password": "app-secret"}}
	if err := k8sClient.Create(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	var sec map[string]string
	eventually(t, "blue's Secret with the application role", func() error {
		if sec = colorSecret(s, v1.Blue); sec["DATABASE_USER"] != "shop_app" {
			return fmt.Errorf("secret user %q", sec["DATABASE_USER"])
		}
		return nil
	})
	if sec["DATABASE_PASSWORD"] != "app-secret" || strings.Contains(sec["DATABASE_URL"], srv.Password) || sec["DATABASE_NAME"] != s.db(v1.Blue) {
		t.Fatalf("blue's settings: user %s, db %s, admin password present %v", sec["DATABASE_USER"], sec["DATABASE_NAME"],
			strings.Contains(sec["DATABASE_URL"], srv.Password))
	}
	c, err := pgx.Connect(context.Background(), sec["DATABASE_URL"])
	if err != nil {
		t.Fatalf("the application cannot connect with its settings: %v", err)
	}
	_ = c.Close(context.Background())
}
