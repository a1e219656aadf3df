package demo

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/s3test"
)

// The demo's bucket: last night's backup, as a backup job would upload it.
const (
	bucket        = "prod-backups"
	bucketPrefix  = "service0/nightly/"
	bucketRefresh = "service0-dev-refresh-s3"
	bucketReader  = "prod-backups-reader"
)

// startBucket starts SeaweedFS on loopback (an S3-compatible server, with
// a generated access key) and uploads the backups of backupDir into the
// bucket.
func startBucket(ctx context.Context, backupDir string) (*s3test.Server, error) {
	store, err := s3test.Start()
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(backupDir, "*.dump"))
	err = store.CreateBucket(ctx, bucket)
	for _, f := range files {
		if err == nil {
			err = store.PutFile(ctx, bucket, bucketPrefix+filepath.Base(f), f)
		}
	}
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no backup in %s to upload", backupDir)
	}
	if err != nil {
		store.Stop()
		return nil, fmt.Errorf("cannot fill the demo's bucket: %w", err)
	}
	return store, nil
}

// createBucketRefresh gives dev a second DatabaseRefresh beside
// config/samples/demo's: the same copy, from the bucket. It is suspended,
// so it runs only when asked (refresh now) and never beside the scheduled
// one; the access key reaches it through a Secret.
func createBucketRefresh(ctx context.Context, cs kubernetes.Interface, cl client.Client, store *s3test.Server) error {
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: bucketReader, Namespace: "dev"},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": store.AccessKeyID, "AWS_SECRET_ACCESS_KEY": store.SecretAccessKey}}
	if _, err := cs.CoreV1().Secrets("dev").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cannot create Secret dev/%s: %w", bucketReader, err)
	}
	dr := &v1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: bucketRefresh, Namespace: "dev"},
		Spec: v1.DatabaseRefreshSpec{
			Schedule: "*/5 * * * *",
			Suspend:  true,
			Source: v1.RefreshSource{Backup: &v1.BackupSource{
				S3: &v1.S3Source{Endpoint: store.Endpoint, Region: store.Region, Bucket: bucket, Prefix: bucketPrefix, ForcePathStyle: true,
					CredentialsSecretRef: v1.S3CredentialsSecretRef{Name: bucketReader}},
				Pattern: "*.dump",
			}},
			Target: v1.RefreshTarget{ConnectionSecretRef: v1.SecretReference{Name: "service0-dev-admin"}, Name: devDB, Owner: devApp},
			Sanitize: []v1.SanitizeStep{
				{SQL: "UPDATE users SET email = 'dev+' || id || '@example.invalid'"},
				{SQL: "DELETE FROM users WHERE NOT active"},
			},
			KeepPrevious:      ptr.To[int32](1),
			SiteDeploymentRef: &v1.LocalObjectReference{Name: "service0-dev"},
		},
	}
	if err := cl.Create(ctx, dr); err != nil {
		return fmt.Errorf("cannot create DatabaseRefresh dev/%s: %w", bucketRefresh, err)
	}
	return nil
}
