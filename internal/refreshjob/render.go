package refreshjob

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"path"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/kmeta"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

// Volume names of the runner pod.
const (
	volumeBackup   = "backup"
	volumeScratch  = "scratch"
	volumeSanitize = "sanitize"
	volumeTmp      = "tmp"
	// volumePgBackRestRepo is a pgBackRest repository on a volume.
	volumePgBackRestRepo = "pgbackrest-repo"
)

func ownerRef(dr *deployv1alpha1.DatabaseRefresh) []metav1.OwnerReference {
	return []metav1.OwnerReference{*metav1.NewControllerRef(dr, deployv1alpha1.GroupVersion.WithKind("DatabaseRefresh"))}
}

// SanitizeConfigMap is the ConfigMap mounted at /sanitize.
func SanitizeConfigMap(dr *deployv1alpha1.DatabaseRefresh, data map[string]string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            SanitizeConfigMapName(dr),
			Namespace:       dr.Namespace,
			Labels:          Labels(dr),
			OwnerReferences: ownerRef(dr),
		},
		Data: withMasking(dr, data),
	}
	return cm
}

// CronJob is the CronJob that runs the refresh runner on the schedule.
func CronJob(dr *deployv1alpha1.DatabaseRefresh, image string) *batchv1.CronJob {
	s := &dr.Spec
	cj := &batchv1.CronJob{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            CronJobName(dr),
			Namespace:       dr.Namespace,
			Labels:          Labels(dr),
			OwnerReferences: ownerRef(dr),
		},
		Spec: batchv1.CronJobSpec{
			Schedule:                   s.Schedule,
			TimeZone:                   s.TimeZone,
			Suspend:                    ptr.To(s.Suspend),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: s.SuccessfulJobsHistoryLimit,
			FailedJobsHistoryLimit:     s.FailedJobsHistoryLimit,
			JobTemplate:                jobTemplate(dr, image),
		},
	}
	cj.Annotations = map[string]string{AnnotationSpecHash: hashOf(cj.Labels, cj.Spec)}
	return cj
}

// NowJob is the Job started for a refresh-now token: the CronJob's job
// template, owned by the DatabaseRefresh.
func NowJob(dr *deployv1alpha1.DatabaseRefresh, cj *batchv1.CronJob, token string) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	labels := maps.Clone(tmpl.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, Labels(dr))
	annotations := maps.Clone(tmpl.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[deployv1alpha1.AnnotationRefreshNow] = token
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            NowJobName(dr, token),
			Namespace:       dr.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: ownerRef(dr),
		},
		Spec: tmpl.Spec,
	}
}

func jobTemplate(dr *deployv1alpha1.DatabaseRefresh, image string) batchv1.JobTemplateSpec {
	o := dr.Spec.JobTemplate
	if o == nil {
		o = &deployv1alpha1.RunnerPodOverrides{}
	}
	podLabels := maps.Clone(o.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, Labels(dr)) // ours win: the controller finds pods by them
	container := corev1.Container{
		Name:                     ContainerName,
		Image:                    image,
		Command:                  []string{RunnerCommand},
		Args:                     runnerArgs(dr),
		Env:                      append(credentialEnv(dr), userEnv(o.Env)...),
		VolumeMounts:             volumeMounts(dr),
		TerminationMessagePath:   TerminationLogPath,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if o.Resources != nil {
		container.Resources = *o.Resources.DeepCopy()
	}
	return batchv1.JobTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: Labels(dr)},
		Spec: batchv1.JobSpec{
			BackoffLimit:          o.BackoffLimit,
			ActiveDeadlineSeconds: activeDeadline(o),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: maps.Clone(o.Annotations)},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           o.ServiceAccountName,
					AutomountServiceAccountToken: ptr.To(false), // the runner never talks to the API server
					EnableServiceLinks:           ptr.To(false),
					NodeSelector:                 maps.Clone(o.NodeSelector),
					Tolerations:                  append([]corev1.Toleration(nil), o.Tolerations...),
					PriorityClassName:            o.PriorityClassName,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To(RunAsUser),
						RunAsGroup:     ptr.To(RunAsUser),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{container},
					Volumes:    volumes(dr),
				},
			},
		},
	}
}

// BackupDir is the runner's --backup-dir: spec.source.backup.path inside
// the mount, cleaned so that it cannot leave it.
func BackupDir(b *deployv1alpha1.BackupSource) string {
	p := b.Path
	if p == "" {
		p = "/"
	}
	return path.Join(BackupMountPath, path.Clean("/"+p))
}

func runnerArgs(dr *deployv1alpha1.DatabaseRefresh) []string {
	s := &dr.Spec
	args := []string{"--target-db", s.Target.Name}
	if s.Target.Owner != "" {
		args = append(args, "--owner", s.Target.Owner)
	}
	args = append(args,
		"--keep-previous", strconv.Itoa(int(ptr.Deref(s.KeepPrevious, 1))), // the API's default
		"--jobs", strconv.Itoa(int(max(s.RestoreJobs, 1))),
	)
	switch {
	case s.Source.Backup != nil:
		pattern := s.Source.Backup.Pattern
		if pattern == "" {
			pattern = "*"
		}
		if s3 := s.Source.Backup.S3; s3 != nil {
			args = append(args, s3Args(s3)...)
		} else {
			args = append(args, "--backup-dir", BackupDir(s.Source.Backup))
		}
		args = append(args, "--pattern", pattern)
	case s.Source.Database != nil:
		args = append(args, "--source-db", s.Source.Database.Name)
	case s.Source.PgBackRest != nil:
		args = append(args, pgbackrestArgs(s.Source.PgBackRest)...)
	}
	args = append(args, maskingArgs(dr)...)
	return append(args,
		"--sanitize-dir", SanitizeMountPath,
		"--scratch-dir", ScratchMountPath,
		"--termination-log", TerminationLogPath,
	)
}

// credentialEnv fills the runner's credentials from the connection Secrets
// by reference: no credential value is ever written into a CronJob or Job.
func credentialEnv(dr *deployv1alpha1.DatabaseRefresh) []corev1.EnvVar {
	env := secretEnv(dr.Spec.Target.ConnectionSecretRef.Name,
		refreshwire.EnvTargetHost, refreshwire.EnvTargetPort, refreshwire.EnvTargetUser, refreshwire.EnvTargetPassword, refreshwire.EnvTargetSSLMode)
	if db := dr.Spec.Source.Database; db != nil {
		env = append(env, secretEnv(db.ConnectionSecretRef.Name,
			refreshwire.EnvSourceHost, refreshwire.EnvSourcePort, refreshwire.EnvSourceUser, refreshwire.EnvSourcePassword, refreshwire.EnvSourceSSLMode)...)
	}
	if b := dr.Spec.Source.Backup; b != nil && b.S3 != nil {
		env = append(env, s3Env(b.S3)...)
	}
	if p := dr.Spec.Source.PgBackRest; p != nil && p.Repository.S3 != nil {
		env = append(env, s3Env(p.Repository.S3)...)
	}
	return env
}

func secretEnv(secret, host, port, user, password, sslmode string) []corev1.EnvVar {
	ref := func(name, key string, optional bool) corev1.EnvVar {
		sel := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}
		if optional {
			sel.Optional = ptr.To(true)
		}
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: sel}}
	}
	return []corev1.EnvVar{
		ref(host, "host", false),
		ref(port, "port", false),
		ref(user, "username", false),
		ref(password, "password", false),
		ref(sslmode, "sslmode", true),
	}
}

// reservedEnv are the variables the controller sets; a user's entry of the
// same name is dropped so that a credential cannot be given by value.
var reservedEnv = map[string]bool{
	refreshwire.EnvTargetHost: true, refreshwire.EnvTargetPort: true, refreshwire.EnvTargetUser: true,
	refreshwire.EnvTargetPassword: true, refreshwire.EnvTargetSSLMode: true,
	refreshwire.EnvSourceHost: true, refreshwire.EnvSourcePort: true, refreshwire.EnvSourceUser: true,
	refreshwire.EnvSourcePassword: true, refreshwire.EnvSourceSSLMode: true,
	refreshwire.EnvS3AccessKeyID: true, refreshwire.EnvS3SecretAccessKey: true,
}

func userEnv(env []corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, e := range env {
		if !isReservedEnv(e.Name) {
			out = append(out, *e.DeepCopy())
		}
	}
	return out
}

func volumeMounts(dr *deployv1alpha1.DatabaseRefresh) []corev1.VolumeMount {
	mounts := []corev1.VolumeMount{
		{Name: volumeScratch, MountPath: ScratchMountPath},
		{Name: volumeTmp, MountPath: TmpMountPath},
		{Name: volumeSanitize, MountPath: SanitizeMountPath, ReadOnly: true},
	}
	if b := dr.Spec.Source.Backup; b != nil && b.Volume != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: volumeBackup, MountPath: BackupMountPath, ReadOnly: true})
	}
	if pgbackrestRepoVolume(dr) != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: volumePgBackRestRepo, MountPath: PgBackRestRepoMountPath, ReadOnly: true})
	}
	return mounts
}

func volumes(dr *deployv1alpha1.DatabaseRefresh) []corev1.Volume {
	vols := []corev1.Volume{
		{Name: volumeScratch, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: volumeTmp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: volumeSanitize, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: SanitizeConfigMapName(dr)},
		}}},
	}
	if b := dr.Spec.Source.Backup; b != nil && b.Volume != nil {
		src := *b.Volume.DeepCopy()
		if src.PersistentVolumeClaim != nil {
			src.PersistentVolumeClaim.ReadOnly = true
		}
		vols = append(vols, corev1.Volume{Name: volumeBackup, VolumeSource: src})
	}
	if src := pgbackrestRepoVolume(dr); src != nil {
		vols = append(vols, corev1.Volume{Name: volumePgBackRestRepo, VolumeSource: *src})
	}
	return vols
}

func hashOf(v ...any) string {
	b, err := json.Marshal(v)
	if err != nil { // only plain API types are hashed
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// CronJobNeedsUpdate tells whether the stored CronJob differs from the
// rendered one: a different rendering (hash) or a field the controller sets
// that was changed by hand. Fields the API server defaulted are not a
// difference, so an idle resync writes nothing.
func CronJobNeedsUpdate(existing, desired *batchv1.CronJob) bool {
	return existing.Annotations[AnnotationSpecHash] != desired.Annotations[AnnotationSpecHash] ||
		!containsAll(existing.Labels, desired.Labels) ||
		!metav1.IsControlledBy(existing, controllerOf(desired)) ||
		!equality.Semantic.DeepDerivative(desired.Spec, existing.Spec)
}

// MergeCronJob copies the rendered parts into the stored CronJob, keeping
// what others set (status, other labels and annotations).
func MergeCronJob(existing, desired *batchv1.CronJob) {
	existing.Labels = kmeta.Merge(existing.Labels, desired.Labels)
	existing.Annotations = kmeta.Merge(existing.Annotations, desired.Annotations)
	existing.OwnerReferences = desired.OwnerReferences
	existing.Spec = desired.Spec
}

// ConfigMapNeedsUpdate tells whether the stored sanitize ConfigMap differs.
func ConfigMapNeedsUpdate(existing, desired *corev1.ConfigMap) bool {
	return !containsAll(existing.Labels, desired.Labels) ||
		!metav1.IsControlledBy(existing, controllerOf(desired)) ||
		!equality.Semantic.DeepEqual(nonNil(existing.Data), nonNil(desired.Data)) ||
		len(existing.BinaryData) > 0
}

// MergeConfigMap copies the rendered parts into the stored ConfigMap.
func MergeConfigMap(existing, desired *corev1.ConfigMap) {
	existing.Labels = kmeta.Merge(existing.Labels, desired.Labels)
	existing.OwnerReferences = desired.OwnerReferences
	existing.Data = desired.Data
	existing.BinaryData = nil
}

// controllerOf is a stand-in object with the UID of obj's controller.
func controllerOf(obj metav1.Object) metav1.Object {
	ref := metav1.GetControllerOf(obj)
	if ref == nil {
		return &metav1.ObjectMeta{}
	}
	return &metav1.ObjectMeta{UID: ref.UID}
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// DefaultActiveDeadlineSeconds bounds a refresh whose spec sets no
// deadline: a runner that hangs (or a pod that never starts) ends as a
// failed Job with reason DeadlineExceeded instead of running for ever.
const DefaultActiveDeadlineSeconds int64 = 3600

func activeDeadline(o *deployv1alpha1.RunnerPodOverrides) *int64 {
	if o.ActiveDeadlineSeconds != nil {
		return ptr.To(*o.ActiveDeadlineSeconds)
	}
	return ptr.To(DefaultActiveDeadlineSeconds)
}
