//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/s3test"
)

// A scheduled refresh from an S3 bucket: a real SeaweedFS on loopback holds
// production's nightly dump; the CronJob's pod runs refresh-runner, which
// lists the bucket with the access key from a Secret, downloads the newest
// object and restores it. Then the access key is made wrong: the next
// refresh fails with a message naming the cause, and dev keeps its data.
func testRefreshFromABucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	c := crClient(t)
	pg, backups := startPostgres(t)
	adminSecret(t, ns, "service0-dev-admin", pg)
	store, err := s3test.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)
	if err := store.CreateBucket(ctx, "prod-backups"); err != nil {
		t.Fatal(err)
	}
	key := "service0/nightly/2026-11-26.dump"
	if err := store.PutFile(ctx, "prod-backups", key, filepath.Join(backups, "nightly-2026-11-26.dump")); err != nil {
		t.Fatal(err)
	}
	reader := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "backup-reader", Namespace: ns},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": store.AccessKeyID, "AWS_SECRET_ACCESS_KEY": store.SecretAccessKey}}
	if _, err := env.Client.CoreV1().Secrets(ns).Create(ctx, reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dr := &deployv1alpha1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: "service0-dev-from-s3", Namespace: ns},
		Spec: deployv1alpha1.DatabaseRefreshSpec{
			Schedule: "* * * * *",
			Source: deployv1alpha1.RefreshSource{Backup: &deployv1alpha1.BackupSource{
				S3: &deployv1alpha1.S3Source{Endpoint: store.Endpoint, Bucket: "prod-backups", Prefix: "service0/nightly/",
					ForcePathStyle: true, CredentialsSecretRef: deployv1alpha1.S3CredentialsSecretRef{Name: "backup-reader"}},
				Pattern: "*.dump",
			}},
			Target: deployv1alpha1.RefreshTarget{
				ConnectionSecretRef: deployv1alpha1.SecretReference{Name: "service0-dev-admin"},
				Name:                "service0_dev",
			},
			Sanitize: []deployv1alpha1.SanitizeStep{{SQL: "UPDATE users SET email = 'dev+' || id || '@example.invalid'"}},
			// One attempt per refresh: the wrong key below fails at once
			// instead of after the Job's retries.
			JobTemplate: &deployv1alpha1.RunnerPodOverrides{BackoffLimit: ptr.To[int32](0)},
		},
	}
	job, got := firstScheduledRefresh(t, c, dr)
	lr := got.Status.LastRefresh
	if o := lr.Object; o == nil || o.Bucket != "prod-backups" || o.Key != key || o.Size <= 0 || o.LastModified == nil ||
		lr.Source != "s3://prod-backups/"+key {
		t.Fatalf("lastRefresh = %+v, object %+v", lr, lr.Object)
	}
	if n := queryInt(t, pg, "service0_dev", "SELECT count(*) FROM users WHERE email LIKE '%@example.invalid'"); n != prodRows {
		t.Fatalf("dev has %d sanitised rows after the refresh from the bucket, want %d", n, prodRows)
	}
	t.Logf("status: %+v, object %+v", *lr, *lr.Object)

	// A wrong secret key: the refresh fails, dev keeps its rows.
	env.Kubectl(t, "-n", ns, "patch", "dbr", dr.Name, "--type=merge", "-p", `{"spec":{"suspend":true}}`)
	reader.StringData = map[string]string{"AWS_ACCESS_KEY_ID": store.AccessKeyID, "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
	if _, err := env.Client.CoreV1().Secrets(ns).Update(ctx, reader, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	failed := failedRefreshKeepsDev(t, c, dr, job.Name, pg, "with a wrong key")
	msg := failed.Status.LastRefresh.Message
	if !strings.Contains(msg, "the S3 server refused the access key (SignatureDoesNotMatch)") || failed.Status.LastRefresh.FailedStep != "source" {
		t.Errorf("lastRefresh after a wrong key = %+v", failed.Status.LastRefresh)
	}
	for _, what := range []any{failed.Status, jobsOf(t, ns), eventsOf(t, ns)} {
		if b, _ := json.Marshal(what); strings.Contains(string(b), store.SecretAccessKey) {
			t.Errorf("the S3 secret key appears in %T", what)
		}
	}
}

func jobsOf(t *testing.T, ns string) any {
	l, err := env.Client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func eventsOf(t *testing.T, ns string) any {
	l, err := env.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}
