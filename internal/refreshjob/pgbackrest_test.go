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

func pgbackrestRefresh() *deployv1alpha1.DatabaseRefresh {
	dr := backupRefresh()
	target := metav1.NewTime(time.Date(2026, 12, 7, 2, 30, 0, 0, time.UTC))
	dr.Spec.Source = deployv1alpha1.RefreshSource{PgBackRest: &deployv1alpha1.PgBackRestSource{
		Stanza: "prod", Database: "shop", Role: "postgres", TargetTime: &target,
		Repository: deployv1alpha1.PgBackRestRepository{
			Volume: &corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pgbackrest"}},
			Path:   "/../repo",
		},
		Options: map[string]string{"process-max": "4", "compress-type": "zst"},
	}}
	dr.Spec.JobTemplate = &deployv1alpha1.RunnerPodOverrides{Env: []corev1.EnvVar{
		{Name: "PGBACKREST_REPO1_CIPHER_PASS", Value: "hunter2"}, {Name: "TZ", Value: "UTC"}}}
	return dr
}

func TestCronJobFromPgBackRestOnAVolume(t *testing.T) {
	pod := CronJob(pgbackrestRefresh(), "runner:1").Spec.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]
	wantArgs := []string{"--target-db", "service0_dev", "--owner", "service0_dev", "--keep-previous", "1", "--jobs", "2",
		"--pgbackrest-stanza", "prod", "--pgbackrest-db", "shop", "--pgbackrest-role", "postgres",
		"--pgbackrest-repo-path", "/pgbackrest-repo/repo", "--pgbackrest-target-time", "2026-12-07T02:30:00Z",
		"--pgbackrest-option", "compress-type=zst", "--pgbackrest-option", "process-max=4",
		"--sanitize-dir", "/sanitize", "--scratch-dir", "/scratch", "--termination-log", "/dev/termination-log"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args = %v\nwant %v", c.Args, wantArgs)
	}
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == volumePgBackRestRepo {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || vol.PersistentVolumeClaim == nil || vol.PersistentVolumeClaim.ClaimName != "pgbackrest" || !vol.PersistentVolumeClaim.ReadOnly {
		t.Errorf("repository volume = %+v, want the claim read-only", vol)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == volumePgBackRestRepo && m.MountPath == PgBackRestRepoMountPath && m.ReadOnly
	}) {
		t.Errorf("repository not mounted read-only at %s: %+v", PgBackRestRepoMountPath, c.VolumeMounts)
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), `"TZ"`) {
		t.Errorf("a PGBACKREST_ variable given by value reached the container, or another was dropped: %s", b)
	}
}

func TestCronJobFromPgBackRestInABucket(t *testing.T) {
	dr := pgbackrestRefresh()
	p := dr.Spec.Source.PgBackRest
	p.TargetTime, p.Options, p.Set = nil, nil, "20261207-030001F"
	p.Repository = deployv1alpha1.PgBackRestRepository{S3: &deployv1alpha1.S3Source{Endpoint: "https://s3.example:9000", Region: "eu-central-1",
		Bucket: "pgbr", Prefix: "prod", CredentialsSecretRef: deployv1alpha1.S3CredentialsSecretRef{Name: "pgbr-reader"}}}
	pod := CronJob(dr, "runner:1").Spec.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]
	want := []string{"--pgbackrest-stanza", "prod", "--pgbackrest-db", "shop", "--pgbackrest-role", "postgres",
		"--s3-endpoint", "https://s3.example:9000", "--s3-region", "eu-central-1", "--s3-bucket", "pgbr", "--s3-prefix", "prod",
		"--pgbackrest-set", "20261207-030001F", "--sanitize-dir"}
	if i := slices.Index(c.Args, "--pgbackrest-stanza"); i < 0 || !slices.Equal(c.Args[i:i+len(want)], want) {
		t.Errorf("args = %v\nwant %v", c.Args, want)
	}
	refs := 0
	for _, e := range c.Env {
		if (e.Name == refreshwire.EnvS3AccessKeyID || e.Name == refreshwire.EnvS3SecretAccessKey) && e.ValueFrom != nil &&
			e.ValueFrom.SecretKeyRef.Name == "pgbr-reader" {
			refs++
		}
	}
	if refs != 2 {
		t.Errorf("the repository's access key is not passed by reference: %+v", c.Env)
	}
	for _, v := range pod.Volumes {
		if v.Name == volumePgBackRestRepo {
			t.Errorf("a repository in a bucket mounts a volume")
		}
	}
}

func TestTheRecordCarriesThePhysicalBackup(t *testing.T) {
	stop := time.Date(2026, 12, 7, 3, 0, 5, 0, time.UTC)
	f := Finished{Job: ObservedJob{Name: "j1", State: JobSucceeded}, Result: &refreshwire.Result{Result: refreshwire.Succeeded,
		Backup: &refreshwire.PhysicalBackup{Stanza: "prod", Label: "20261207-030001F", Type: "full", StartLSN: "0/2000028", StopLSN: "0/2000100",
			StartedAt: stop.Add(-4 * time.Second), StoppedAt: stop}}}
	rec := f.Record().PhysicalBackup
	if rec == nil || rec.Label != "20261207-030001F" || rec.StopLSN != "0/2000100" || !rec.StoppedAt.Time.Equal(stop) || rec.TargetTime != nil {
		t.Errorf("record's physical backup = %+v", rec)
	}
}
