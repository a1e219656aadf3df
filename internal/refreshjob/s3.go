package refreshjob

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

// Default keys of spec.source.backup.s3.credentialsSecretRef (the API's
// defaults, for objects written before the API server defaulted them).
const (
	DefaultS3AccessKeyIDKey     = "AWS_ACCESS_KEY_ID"
	DefaultS3SecretAccessKeyKey = "AWS_SECRET_ACCESS_KEY"
	defaultS3Region             = "us-east-1"
)

// s3Args are the runner's flags for a bucket source: where to look, never
// how to authenticate.
func s3Args(s3 *deployv1alpha1.S3Source) []string {
	region := s3.Region
	if region == "" {
		region = defaultS3Region
	}
	args := []string{"--s3-endpoint", s3.Endpoint, "--s3-region", region, "--s3-bucket", s3.Bucket}
	if s3.Prefix != "" {
		args = append(args, "--s3-prefix", s3.Prefix)
	}
	if s3.ForcePathStyle {
		args = append(args, "--s3-path-style")
	}
	return args
}

// s3Env passes the access key by secretKeyRef: its value is never written
// into a CronJob or Job.
func s3Env(s3 *deployv1alpha1.S3Source) []corev1.EnvVar {
	ref := s3.CredentialsSecretRef
	key := func(k, def string) string {
		if k == "" {
			return def
		}
		return k
	}
	env := func(name, k string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: k,
		}}}
	}
	return []corev1.EnvVar{
		env(refreshwire.EnvS3AccessKeyID, key(ref.AccessKeyIDKey, DefaultS3AccessKeyIDKey)),
		env(refreshwire.EnvS3SecretAccessKey, key(ref.SecretAccessKeyKey, DefaultS3SecretAccessKeyKey)),
	}
}

// objectRecord is status.lastRefresh.object of the runner's object.
func objectRecord(o *refreshwire.Object) *deployv1alpha1.BackupObject {
	if o == nil {
		return nil
	}
	rec := &deployv1alpha1.BackupObject{Bucket: o.Bucket, Key: o.Key, Size: o.Size}
	if !o.LastModified.IsZero() {
		rec.LastModified = &metav1.Time{Time: o.LastModified}
	}
	return rec
}
