package refreshjob

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func backupRefresh() *deployv1alpha1.DatabaseRefresh {
	return &deployv1alpha1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: "service0-dev-nightly", Namespace: "dev", UID: "uid-1"},
		Spec: deployv1alpha1.DatabaseRefreshSpec{
			Schedule: "0 3 * * *",
			TimeZone: ptr.To("Europe/Berlin"),
			Source: deployv1alpha1.RefreshSource{Backup: &deployv1alpha1.BackupSource{
				Volume:  &corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "backups"}},
				Path:    "/nightly",
				Pattern: "*.dump*",
			}},
			Target: deployv1alpha1.RefreshTarget{
				ConnectionSecretRef: deployv1alpha1.SecretReference{Name: "dev-admin"},
				Name:                "service0_dev",
				Owner:               "service0_dev",
			},
			KeepPrevious:               ptr.To[int32](1),
			RestoreJobs:                2,
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](2),
		},
	}
}

func TestCronJobFromBackup(t *testing.T) {
	dr := backupRefresh()
	cj := CronJob(dr, "runner:1")

	if cj.Name != dr.Name || cj.Labels[deployv1alpha1.LabelRefresh] != dr.Name {
		t.Errorf("name/labels = %s %v", cj.Name, cj.Labels)
	}
	if ref := metav1.GetControllerOf(cj); ref == nil || ref.UID != dr.UID || ref.Kind != "DatabaseRefresh" {
		t.Errorf("controller = %+v", ref)
	}
	s := cj.Spec
	if s.Schedule != "0 3 * * *" || *s.TimeZone != "Europe/Berlin" || *s.Suspend || s.ConcurrencyPolicy != batchv1.ForbidConcurrent ||
		*s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 2 {
		t.Errorf("cron spec = %+v", s)
	}
	pod := s.JobTemplate.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 {
		t.Fatalf("pod = %+v", pod)
	}
	c := pod.Containers[0]
	wantArgs := []string{"--target-db", "service0_dev", "--owner", "service0_dev", "--keep-previous", "1", "--jobs", "2",
		"--backup-dir", "/backup/nightly", "--pattern", "*.dump*",
		"--sanitize-dir", "/sanitize", "--scratch-dir", "/scratch", "--termination-log", "/dev/termination-log"}
	if c.Image != "runner:1" || !slices.Equal(c.Command, []string{"refresh-runner"}) || !slices.Equal(c.Args, wantArgs) {
		t.Errorf("container image/command/args = %s %v %v", c.Image, c.Command, c.Args)
	}
	if d := cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds; d == nil || *d != DefaultActiveDeadlineSeconds {
		t.Errorf("active deadline = %v, want the default %d", d, DefaultActiveDeadlineSeconds)
	}
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Errorf("termination message policy = %s", c.TerminationMessagePolicy)
	}
	sc := c.SecurityContext
	if !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("security context = %+v", sc)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	if m := mounts["/backup"]; !m.ReadOnly || m.Name != "backup" {
		t.Errorf("backup mount = %+v", m)
	}
	if m := mounts["/sanitize"]; !m.ReadOnly {
		t.Errorf("sanitize mount = %+v", m)
	}
	if _, ok := mounts["/scratch"]; !ok {
		t.Error("no /scratch mount")
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	if v := vols["backup"]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "backups" || !v.PersistentVolumeClaim.ReadOnly {
		t.Errorf("backup volume = %+v", v)
	}
	if v := vols["sanitize"]; v.ConfigMap == nil || v.ConfigMap.Name != "service0-dev-nightly-sanitize" {
		t.Errorf("sanitize volume = %+v", v)
	}
	if v := vols["scratch"]; v.EmptyDir == nil {
		t.Errorf("scratch volume = %+v", v)
	}
	if got := s.JobTemplate.Spec.Template.Labels[deployv1alpha1.LabelRefresh]; got != dr.Name {
		t.Errorf("pod label = %q", got)
	}
}

func TestCredentialsComeOnlyFromSecrets(t *testing.T) {
	dr := backupRefresh()
	dr.Spec.Source = deployv1alpha1.RefreshSource{Database: &deployv1alpha1.LiveDatabaseSource{
		ConnectionSecretRef: deployv1alpha1.SecretReference{Name: "replica"}, Name: "service0"}}
	dr.Spec.JobTemplate = &deployv1alpha1.RunnerPodOverrides{Env: []corev1.EnvVar{
		{Name: "TARGET_PASSWORD", Value: "hunter2"}, {Name: "PGAPPNAME", Value: "refresh"}}}
	c := CronJob(dr, "runner:1").Spec.JobTemplate.Spec.Template.Spec.Containers[0]

	if !slices.Contains(c.Args, "--source-db") || slices.Contains(c.Args, "--backup-dir") {
		t.Errorf("args = %v", c.Args)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s is set twice", e.Name)
		}
		env[e.Name] = e
	}
	for name, want := range map[string][2]string{
		"TARGET_HOST": {"dev-admin", "host"}, "TARGET_PORT": {"dev-admin", "port"}, "TARGET_USER": {"dev-admin", "username"},
		"TARGET_PASSWORD": {"dev-admin", "password"}, "TARGET_SSLMODE": {"dev-admin", "sslmode"},
		"SOURCE_HOST": {"replica", "host"}, "SOURCE_PASSWORD": {"replica", "password"}, "SOURCE_SSLMODE": {"replica", "sslmode"},
	} {
		e := env[name]
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != want[0] || e.ValueFrom.SecretKeyRef.Key != want[1] {
			t.Errorf("%s = %+v, want a reference to %s/%s", name, e, want[0], want[1])
			continue
		}
		optional := e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional
		if optional != strings.HasSuffix(name, "SSLMODE") {
			t.Errorf("%s optional = %v", name, optional)
		}
	}
	if env["PGAPPNAME"].Value != "refresh" {
		t.Errorf("user env dropped: %+v", env["PGAPPNAME"])
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), "hunter2") {
		t.Error("a credential given by value reached the container")
	}
}

func TestJobTemplateOverrides(t *testing.T) {
	dr := backupRefresh()
	dr.Spec.JobTemplate = &deployv1alpha1.RunnerPodOverrides{
		Labels:                map[string]string{"team": "db", deployv1alpha1.LabelRefresh: "spoofed"},
		Annotations:           map[string]string{"a": "b"},
		Resources:             &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
		NodeSelector:          map[string]string{"disk": "ssd"},
		Tolerations:           []corev1.Toleration{{Key: "db", Operator: corev1.TolerationOpExists}},
		ServiceAccountName:    "runner",
		PriorityClassName:     "low",
		ActiveDeadlineSeconds: ptr.To[int64](600),
		BackoffLimit:          ptr.To[int32](1),
	}
	js := CronJob(dr, "runner:1").Spec.JobTemplate.Spec
	pod := js.Template
	if pod.Labels["team"] != "db" || pod.Labels[deployv1alpha1.LabelRefresh] != dr.Name || pod.Annotations["a"] != "b" {
		t.Errorf("pod metadata = %+v", pod.ObjectMeta)
	}
	if pod.Spec.NodeSelector["disk"] != "ssd" || len(pod.Spec.Tolerations) != 1 || pod.Spec.ServiceAccountName != "runner" ||
		pod.Spec.PriorityClassName != "low" || *js.ActiveDeadlineSeconds != 600 || *js.BackoffLimit != 1 {
		t.Errorf("pod spec = %+v", pod.Spec)
	}
	if got := pod.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; got.String() != "1Gi" {
		t.Errorf("memory limit = %s", got.String())
	}
}

func TestBackupDirStaysInsideTheMount(t *testing.T) {
	for path, want := range map[string]string{"/": "/backup", "": "/backup", "/a/b/": "/backup/a/b", "/../../etc": "/backup/etc"} {
		if got := BackupDir(&deployv1alpha1.BackupSource{Path: path}); got != want {
			t.Errorf("BackupDir(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestCronJobNeedsUpdate(t *testing.T) {
	dr := backupRefresh()
	desired := CronJob(dr, "runner:1")
	stored := desired.DeepCopy()
	// What the API server defaults is not a difference.
	stored.Spec.StartingDeadlineSeconds = nil
	pod := &stored.Spec.JobTemplate.Spec.Template.Spec
	pod.DNSPolicy, pod.SchedulerName = corev1.DNSClusterFirst, "default-scheduler"
	pod.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
	stored.Spec.JobTemplate.Spec.BackoffLimit = ptr.To[int32](6)
	stored.Annotations["kept"] = "yes"
	if CronJobNeedsUpdate(stored, desired) {
		t.Error("a defaulted CronJob needs an update")
	}

	changed := backupRefresh()
	changed.Spec.Schedule = "0 4 * * *"
	if !CronJobNeedsUpdate(stored, CronJob(changed, "runner:1")) {
		t.Error("a changed schedule needs no update")
	}
	edited := stored.DeepCopy()
	edited.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	if !CronJobNeedsUpdate(edited, desired) {
		t.Error("a hand edit needs no update")
	}
	MergeCronJob(edited, desired)
	if CronJobNeedsUpdate(edited, desired) || edited.Annotations["kept"] != "yes" {
		t.Errorf("after merge: %+v", edited.ObjectMeta)
	}
}

func TestNowJob(t *testing.T) {
	dr := backupRefresh()
	cj := CronJob(dr, "runner:1")
	a, b := NowJob(dr, cj, "token-1"), NowJob(dr, cj, "token-1")
	if a.Name != b.Name || !strings.HasPrefix(a.Name, dr.Name+"-now-") || len(a.Name) > 63 {
		t.Errorf("names %q %q", a.Name, b.Name)
	}
	if c := NowJob(dr, cj, "token-2"); c.Name == a.Name {
		t.Error("two tokens share a Job name")
	}
	if a.Labels[deployv1alpha1.LabelRefresh] != dr.Name || a.Annotations[deployv1alpha1.AnnotationRefreshNow] != "token-1" {
		t.Errorf("metadata = %+v", a.ObjectMeta)
	}
	if ref := metav1.GetControllerOf(a); ref == nil || ref.UID != dr.UID {
		t.Errorf("controller = %+v", ref)
	}
	if a.Spec.Template.Spec.Containers[0].Image != "runner:1" {
		t.Error("not the CronJob's template")
	}
	long := backupRefresh()
	long.Name = strings.Repeat("a", MaxNameLength)
	if n := NowJobName(long, "x"); len(n) > 63 {
		t.Errorf("%q is %d characters long", n, len(n))
	}
}
