package controllers_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refresh"
)

const s3SecretKey = "s3-secret-Zr5pQ8wL2m"

func s3Source() *v1.BackupSource {
	return &v1.BackupSource{
		S3: &v1.S3Source{
			Endpoint: "https://s3.storage.internal:9000", Bucket: "pg-backups", Prefix: "service0/",
			ForcePathStyle:       true,
			CredentialsSecretRef: v1.S3CredentialsSecretRef{Name: "backup-reader"},
		},
		Pattern: "nightly-*.dump",
	}
}

// The API server refuses a bucket source it cannot act on, with a message
// that names the field.
func TestDatabaseRefreshS3SpecIsValidatedAtApply(t *testing.T) {
	ns := newNamespace(t)
	for _, tc := range []struct {
		name   string
		change func(*v1.BackupSource)
		want   string
	}{
		{"volume and s3", func(b *v1.BackupSource) {
			b.Volume = &corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}, "spec.source.backup must set exactly one of volume or s3"},
		{"neither", func(b *v1.BackupSource) { b.S3 = nil }, "spec.source.backup must set exactly one of volume or s3"},
		{"path with s3", func(b *v1.BackupSource) { b.Path = "/nightly" }, "for s3 use s3.prefix"},
		{"endpoint without scheme", func(b *v1.BackupSource) { b.S3.Endpoint = "s3.storage.internal" }, "endpoint must be an http:// or https:// URL"},
		{"endpoint with credentials", func(b *v1.BackupSource) { b.S3.Endpoint = "https://id:secret@s3.example" }, "without credentials"},
		{"no endpoint", func(b *v1.BackupSource) { b.S3.Endpoint = "" }, "spec.source.backup.s3.endpoint"},
		{"no bucket", func(b *v1.BackupSource) { b.S3.Bucket = "" }, "spec.source.backup.s3.bucket"},
		{"bad bucket", func(b *v1.BackupSource) { b.S3.Bucket = "Bad_Bucket" }, "spec.source.backup.s3.bucket"},
		{"absolute prefix", func(b *v1.BackupSource) { b.S3.Prefix = "/service0/" }, "must not start with /"},
		{"no secret", func(b *v1.BackupSource) { b.S3.CredentialsSecretRef.Name = "" }, "spec.source.backup.s3.credentialsSecretRef.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := s3Source()
			tc.change(b)
			err := k8sClient.Create(context.Background(), s3Refresh(ns, strings.ReplaceAll(tc.name, " ", "-"), b))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create = %v, want a refusal with %q", err, tc.want)
			}
		})
	}
	dr := s3Refresh(ns, "valid", s3Source())
	if err := k8sClient.Create(context.Background(), dr); err != nil {
		t.Fatalf("a valid bucket source is refused: %v", err)
	}
	s3 := dr.Spec.Source.Backup.S3
	if s3.Region != "us-east-1" || s3.CredentialsSecretRef.AccessKeyIDKey != "AWS_ACCESS_KEY_ID" ||
		s3.CredentialsSecretRef.SecretAccessKeyKey != "AWS_SECRET_ACCESS_KEY" {
		t.Errorf("defaults = %+v", s3)
	}
}

func s3Refresh(ns, name string, b *v1.BackupSource) *v1.DatabaseRefresh {
	return &v1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.DatabaseRefreshSpec{
			Schedule: "0 3 * * *",
			Source:   v1.RefreshSource{Backup: b},
			Target:   v1.RefreshTarget{ConnectionSecretRef: v1.SecretReference{Name: "dev-admin"}, Name: "service0_dev"},
		},
	}
}

// A refresh from a bucket: the runner gets the access key only by
// reference, and the status records the object it restored.
func TestDatabaseRefreshFromABucket(t *testing.T) {
	ctx := context.Background()
	r := newRefresh(t, func(dr *v1.DatabaseRefresh) { dr.Spec.Source.Backup = s3Source() })
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "backup-reader", Namespace: r.ns},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": "reader", "AWS_SECRET_ACCESS_KEY": s3SecretKey}}
	if err := k8sClient.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	c := r.cronJob().Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--s3-bucket") || slices.Contains(c.Args, "--backup-dir") {
		t.Errorf("args = %v", c.Args)
	}
	refs := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	if refs[refresh.EnvS3AccessKeyID] != "backup-reader/AWS_ACCESS_KEY_ID" || refs[refresh.EnvS3SecretAccessKey] != "backup-reader/AWS_SECRET_ACCESS_KEY" {
		t.Errorf("S3 env references = %v", refs)
	}

	finish := time.Now().UTC().Truncate(time.Second)
	modified := finish.Add(-3 * time.Hour)
	job := r.runJob("nightly-29400100", true, refresh.Result{Result: refresh.Succeeded, Source: "s3://pg-backups/service0/nightly-7.dump",
		Bytes: 4096, DataTakenAt: &modified, Target: "service0_dev",
		Object: &refresh.Object{Bucket: "pg-backups", Key: "service0/nightly-7.dump", Size: 4096, LastModified: modified}}, finish)
	dr := r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonSucceeded)
	o := dr.Status.LastRefresh.Object
	if o == nil || o.Bucket != "pg-backups" || o.Key != "service0/nightly-7.dump" || o.Size != 4096 || o.LastModified == nil || !o.LastModified.Time.Equal(modified) {
		t.Errorf("lastRefresh.object = %+v", o)
	}
	for what, v := range map[string]any{"CronJob": r.cronJob(), "Job": job, "status": dr.Status} {
		if b, _ := json.Marshal(v); strings.Contains(string(b), s3SecretKey) {
			t.Errorf("the S3 secret key appears in the %s", what)
		}
	}
}
