package refreshjob

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

func s3Refresh() *deployv1alpha1.DatabaseRefresh {
	dr := backupRefresh()
	dr.Spec.Source.Backup = &deployv1alpha1.BackupSource{
		S3: &deployv1alpha1.S3Source{
			Endpoint: "https://minio.storage:9000", Region: "eu-central-1", Bucket: "pg-backups", Prefix: "service0/nightly/",
			ForcePathStyle:       true,
			CredentialsSecretRef: deployv1alpha1.S3CredentialsSecretRef{Name: "backup-reader", AccessKeyIDKey: "id"},
		},
		Path:    "/",
		Pattern: "*.dump",
	}
	dr.Spec.JobTemplate = &deployv1alpha1.RunnerPodOverrides{Env: []corev1.EnvVar{{Name: "S3_SECRET_ACCESS_KEY", Value: "hunter2"}}}
	return dr
}

func TestCronJobFromABucket(t *testing.T) {
	pod := CronJob(s3Refresh(), "runner:1").Spec.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]
	wantArgs := []string{"--target-db", "service0_dev", "--owner", "service0_dev", "--keep-previous", "1", "--jobs", "2",
		"--s3-endpoint", "https://minio.storage:9000", "--s3-region", "eu-central-1", "--s3-bucket", "pg-backups",
		"--s3-prefix", "service0/nightly/", "--s3-path-style", "--pattern", "*.dump",
		"--sanitize-dir", "/sanitize", "--scratch-dir", "/scratch", "--termination-log", "/dev/termination-log"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args = %v\nwant %v", c.Args, wantArgs)
	}
	for _, v := range pod.Volumes {
		if v.Name == volumeBackup {
			t.Errorf("a bucket source mounts a backup volume: %+v", v)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s is set twice", e.Name)
		}
		env[e.Name] = e
	}
	for name, key := range map[string]string{refreshwire.EnvS3AccessKeyID: "id", refreshwire.EnvS3SecretAccessKey: DefaultS3SecretAccessKeyKey} {
		e := env[name]
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != "backup-reader" || e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("%s = %+v, want a reference to backup-reader/%s", name, e, key)
		}
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), "hunter2") {
		t.Error("an S3 secret given by value reached the container")
	}
}

func TestTheRecordCarriesTheObject(t *testing.T) {
	modified := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	f := Finished{Job: ObservedJob{Name: "j1", State: JobSucceeded}, Result: &refreshwire.Result{Result: refreshwire.Succeeded,
		Source: "s3://pg-backups/service0/nightly/a.dump", Bytes: 42,
		Object: &refreshwire.Object{Bucket: "pg-backups", Key: "service0/nightly/a.dump", Size: 42, LastModified: modified}}}
	rec := f.Record()
	want := &deployv1alpha1.BackupObject{Bucket: "pg-backups", Key: "service0/nightly/a.dump", Size: 42, LastModified: &metav1.Time{Time: modified}}
	if rec.Object == nil || *rec.Object.LastModified != *want.LastModified || rec.Object.Key != want.Key || rec.Object.Size != 42 || rec.Object.Bucket != want.Bucket {
		t.Errorf("record object = %+v, want %+v", rec.Object, want)
	}
	f.Result.Object = nil
	if rec := f.Record(); rec.Object != nil {
		t.Errorf("a volume backup's record has an object: %+v", rec.Object)
	}
}
