//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/pgbrtest"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// A scheduled refresh from pgBackRest: a production PostgreSQL archives its
// WAL into a real pgBackRest repository and takes a full backup; the
// CronJob's pod runs refresh-runner, which restores only database service0
// of it into a throwaway instance on its scratch volume, recovers it,
// dumps it and swaps it in as dev. Then the stanza is made wrong: the next
// refresh fails naming the cause, and dev keeps its data.
func testRefreshFromPgBackRest(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	c := crClient(t)
	dev, _ := startPostgres(t)
	adminSecret(t, ns, "service0-dev-admin", dev)

	repo, err := pgbrtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Remove)
	prod, err := pgtest.Start(pgtest.Options{Settings: repo.ServerSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Stop)
	if err := repo.Attach(prod); err != nil {
		t.Fatal(err)
	}
	psql(t, prod, "", "CREATE DATABASE service0", "CREATE DATABASE billing")
	psql(t, prod, "service0",
		"CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)",
		fmt.Sprintf("INSERT INTO users (email) SELECT 'person' || g || '@customer.example' FROM generate_series(1, %d) g", prodRows))
	label, err := repo.Backup("full")
	if err != nil {
		t.Fatal(err)
	}

	dr := &deployv1alpha1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: "service0-dev-from-pgbackrest", Namespace: ns},
		Spec: deployv1alpha1.DatabaseRefreshSpec{
			Schedule: "* * * * *",
			Source: deployv1alpha1.RefreshSource{PgBackRest: &deployv1alpha1.PgBackRestSource{
				Stanza: pgbrtest.Stanza, Database: "service0", Role: pgtest.Superuser,
				Repository: deployv1alpha1.PgBackRestRepository{
					Volume: &corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: repo.Path}},
				},
			}},
			Target: deployv1alpha1.RefreshTarget{
				ConnectionSecretRef: deployv1alpha1.SecretReference{Name: "service0-dev-admin"},
				Name:                "service0_dev",
			},
			Sanitize:    []deployv1alpha1.SanitizeStep{{SQL: "UPDATE users SET email = 'dev+' || id || '@example.invalid'"}},
			JobTemplate: &deployv1alpha1.RunnerPodOverrides{BackoffLimit: ptr.To[int32](0)},
		},
	}
	job, got := firstScheduledRefresh(t, c, dr)
	b := got.Status.LastRefresh.PhysicalBackup
	if b == nil || b.Label != label || b.Stanza != pgbrtest.Stanza || b.StopLSN == "" || b.StoppedAt == nil ||
		got.Status.DataTakenAt == nil || !got.Status.DataTakenAt.Time.Equal(b.StoppedAt.Time) {
		t.Fatalf("lastRefresh = %+v, physicalBackup %+v, dataTakenAt %v", got.Status.LastRefresh, b, got.Status.DataTakenAt)
	}
	if n := queryInt(t, dev, "service0_dev", "SELECT count(*) FROM users WHERE email LIKE '%@example.invalid'"); n != prodRows {
		t.Fatalf("dev has %d sanitised rows after the refresh from pgBackRest, want %d", n, prodRows)
	}
	t.Logf("status: %+v, backup %+v", *got.Status.LastRefresh, *b)

	// A stanza the repository does not have: the refresh fails, dev keeps
	// its rows.
	env.Kubectl(t, "-n", ns, "patch", "dbr", dr.Name, "--type=merge", "-p", `{"spec":{"suspend":true,"source":{"pgbackrest":{"stanza":"nope"}}}}`)
	failed := failedRefreshKeepsDev(t, c, dr, job.Name, dev, "from a wrong stanza")
	if lr := failed.Status.LastRefresh; !strings.Contains(lr.Message, `stanza "nope" is not in the pgBackRest repository`) || lr.FailedStep != "source" {
		t.Errorf("lastRefresh after a wrong stanza = %+v", lr)
	}
}
