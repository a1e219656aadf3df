package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refresh"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

func pgbackrestSource() *v1.PgBackRestSource {
	return &v1.PgBackRestSource{Stanza: "prod", Database: "shop",
		Repository: v1.PgBackRestRepository{Volume: &corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pgbackrest"}}}}
}

// The API server refuses a pgBackRest source it cannot act on, with a
// message that names the field.
func TestDatabaseRefreshPgBackRestSpecIsValidatedAtApply(t *testing.T) {
	ns := newNamespace(t)
	create := func(name string, change func(*v1.DatabaseRefresh)) (*v1.DatabaseRefresh, error) {
		dr := s3Refresh(ns, name, nil)
		dr.Spec.Source = v1.RefreshSource{PgBackRest: pgbackrestSource()}
		change(dr)
		return dr, k8sClient.Create(context.Background(), dr)
	}
	for _, tc := range []struct {
		name   string
		change func(*v1.PgBackRestSource)
		want   string
	}{
		{"no repository", func(p *v1.PgBackRestSource) { p.Repository.Volume = nil }, "repository must set exactly one of volume or s3"},
		{"http bucket", func(p *v1.PgBackRestSource) {
			p.Repository = v1.PgBackRestRepository{S3: &v1.S3Source{Endpoint: "http://s3.example", Bucket: "pgbr", CredentialsSecretRef: v1.S3CredentialsSecretRef{Name: "k"}}}
		}, "pgBackRest speaks only TLS"},
		{"credential option", func(p *v1.PgBackRestSource) { p.Options = map[string]string{"repo1-cipher-pass": "x"} }, "must not carry credentials"},
		{"reserved option", func(p *v1.PgBackRestSource) { p.Options = map[string]string{"db-include": "x"} }, "an option the runner sets itself"},
		{"bad option name", func(p *v1.PgBackRestSource) { p.Options = map[string]string{"--process-max": "4"} }, "pgBackRest option names"},
		{"bad set", func(p *v1.PgBackRestSource) { p.Set = "latest" }, "spec.source.pgbackrest.set"},
		{"no stanza", func(p *v1.PgBackRestSource) { p.Stanza = "" }, "spec.source.pgbackrest.stanza"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := create(strings.ReplaceAll(tc.name, " ", "-"), func(dr *v1.DatabaseRefresh) { tc.change(dr.Spec.Source.PgBackRest) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create = %v, want a refusal with %q", err, tc.want)
			}
		})
	}
	if _, err := create("two-sources", func(dr *v1.DatabaseRefresh) { dr.Spec.Source.Backup = s3Source() }); err == nil ||
		!strings.Contains(err.Error(), "exactly one of backup, database or pgbackrest") {
		t.Errorf("two sources: %v", err)
	}
	dr, err := create("valid", func(*v1.DatabaseRefresh) {})
	if err != nil {
		t.Fatalf("a valid pgBackRest source is refused: %v", err)
	}
	if p := dr.Spec.Source.PgBackRest; p.Role != "postgres" || p.Repository.Path != "/" {
		t.Errorf("defaults = %+v", p)
	}
}

// A refresh from pgBackRest: the repository is mounted read-only and the
// status records the backup and the data's age from the backup's end.
func TestDatabaseRefreshFromPgBackRest(t *testing.T) {
	r := newRefresh(t, func(dr *v1.DatabaseRefresh) { dr.Spec.Source = v1.RefreshSource{PgBackRest: pgbackrestSource()} })
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	pod := r.cronJob().Spec.JobTemplate.Spec.Template.Spec
	if a := strings.Join(pod.Containers[0].Args, " "); !strings.Contains(a, "--pgbackrest-stanza prod --pgbackrest-db shop --pgbackrest-role postgres --pgbackrest-repo-path /pgbackrest-repo") {
		t.Errorf("args = %s", a)
	}
	finish := time.Now().UTC().Truncate(time.Second)
	stopped := finish.Add(-5 * time.Hour)
	r.runJob("nightly-29400100", true, refresh.Result{Result: refresh.Succeeded, Source: "pgbackrest prod/20261207-030001F database shop",
		Bytes: 4096, DataTakenAt: &stopped, Target: "service0_dev",
		Backup: &refreshwire.PhysicalBackup{Stanza: "prod", Label: "20261207-030001F", Type: "full", StartLSN: "0/2000028", StopLSN: "0/2000100",
			StartedAt: stopped.Add(-time.Minute), StoppedAt: stopped}}, finish)
	dr := r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonSucceeded)
	b := dr.Status.LastRefresh.PhysicalBackup
	if b == nil || b.Label != "20261207-030001F" || b.StopLSN != "0/2000100" || b.StoppedAt == nil || !b.StoppedAt.Time.Equal(stopped) {
		t.Errorf("lastRefresh.physicalBackup = %+v", b)
	}
	if dr.Status.DataTakenAt == nil || !dr.Status.DataTakenAt.Time.Equal(stopped) {
		t.Errorf("dataTakenAt = %v, want the backup's end %v", dr.Status.DataTakenAt, stopped)
	}
}
