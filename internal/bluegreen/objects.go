package bluegreen

import (
	"fmt"
	"hash/fnv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/kmeta"
)

// DeploymentIntent is what one color's Deployment should be.
type DeploymentIntent struct {
	Color    v1.Color
	Revision string
	// Template is the revision's pod template; nil keeps the current one
	// (used for the active color, whose template never changes in place).
	Template *corev1.PodTemplateSpec
	Replicas int32
	// Images pins containers, by name, to image references (image@digest)
	// in the Deployment's template, whatever template it keeps; nil runs
	// the images as the template names them.
	Images map[string]string
	// Preview are the settings the candidate's pods get while they are not
	// live (WithPreview); a Template already running is written again
	// when they differ (PreviewHash), so the scale-up drops them.
	Preview *v1.PreviewSettings
}

// ServiceIntent is what the active or preview Service should select.
type ServiceIntent struct {
	Name     string
	Color    v1.Color
	Revision string
}

// Selector is the Service selector of the intent.
func (s ServiceIntent) Selector(site string) map[string]string {
	return map[string]string{v1.LabelSite: site, v1.LabelColor: string(s.Color), v1.LabelRevision: s.Revision}
}

// DeploymentName is the name of a color's Deployment.
func DeploymentName(site string, c v1.Color) string { return site + "-" + string(c) }

// ActiveServiceName resolves spec.service.activeName.
func ActiveServiceName(s *v1.SiteDeployment) string {
	if s.Spec.Service.ActiveName != "" {
		return s.Spec.Service.ActiveName
	}
	return s.Name
}

// PreviewServiceName resolves spec.service.previewName.
func PreviewServiceName(s *v1.SiteDeployment) string {
	if s.Spec.Service.PreviewName != "" {
		return s.Spec.Service.PreviewName
	}
	return s.Name + "-preview"
}

// Check kinds, also the suffix of check Job names.
const (
	PrePromotion  = "pre"
	PostPromotion = "post"
)

// CheckJobName is deterministic so that creating a check twice is a no-op.
func CheckJobName(site, rev, kind string) string {
	if len(site) > 45 {
		site = site[:45]
	}
	return fmt.Sprintf("%s-%s-%s", site, rev, kind)
}

// checkJob renders the Job of a check against a revision on a color.
// AnnotationCheckStarted records, with the controller's clock, when a check
// Job was created; its timeout counts from here.
const AnnotationCheckStarted = "deploy.understudy.dev/check-started-at"

func checkJob(s *v1.SiteDeployment, spec *v1.CheckSpec, rev string, color v1.Color, kind string, now time.Time) *batchv1.Job {
	tmpl := spec.Template.DeepCopy()
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	env := []corev1.EnvVar{
		{Name: "PREVIEW_URL", Value: serviceURL(s, PreviewServiceName(s))},
		{Name: "ACTIVE_URL", Value: serviceURL(s, ActiveServiceName(s))},
		{Name: "REVISION", Value: rev},
		{Name: "COLOR", Value: string(color)},
	}
	for i := range tmpl.Spec.Containers {
		tmpl.Spec.Containers[i].Env = append(tmpl.Spec.Containers[i].Env, env...)
	}
	withLogsOnError(tmpl)
	labels := map[string]string{v1.LabelSite: s.Name, v1.LabelRevision: rev, v1.LabelCheck: kind}
	tmpl.Labels = kmeta.Merge(tmpl.Labels, labels)
	job := &batchv1.Job{Spec: batchv1.JobSpec{Template: *tmpl, BackoffLimit: spec.BackoffLimit}}
	job.Name = CheckJobName(s.Name, rev, kind)
	job.Namespace = s.Namespace
	job.Labels = labels
	job.Annotations = map[string]string{AnnotationCheckStarted: now.UTC().Format(time.RFC3339Nano)}
	if spec.Timeout != nil {
		secs := int64(spec.Timeout.Seconds())
		if secs > 0 {
			job.Spec.ActiveDeadlineSeconds = &secs
		}
	}
	return job
}

// withLogsOnError makes each container of a Job's pod that does not say
// otherwise leave its last log lines as its termination message when it
// fails, so that the failure's message quotes them (the SQL error of a
// migration, say) instead of only the Job's BackoffLimitExceeded.
func withLogsOnError(t *corev1.PodTemplateSpec) {
	for _, list := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for i := range list {
			if list[i].TerminationMessagePolicy == "" {
				list[i].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
			}
		}
	}
}

func serviceURL(s *v1.SiteDeployment, svc string) string {
	port := int32(80)
	if len(s.Spec.Service.Ports) > 0 {
		port = s.Spec.Service.Ports[0].Port
	}
	return fmt.Sprintf("http://%s.%s.svc:%d", svc, s.Namespace, port)
}

// jobStarted is when a Job the planner made was created, by the
// controller's clock (AnnotationCheckStarted), else by the API server's.
func jobStarted(job *batchv1.Job) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, job.Annotations[AnnotationCheckStarted]); err == nil {
		return t
	}
	return job.CreationTimestamp.Time
}

// MigrationJobName names the migration of one copy (database OID) to one
// schema revision: a copy is migrated once, and a new copy gets a new Job.
func MigrationJobName(site string, copyOID uint32, schemaRevision string) string {
	if len(site) > 40 {
		site = site[:40]
	}
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%d/%s", copyOID, schemaRevision)
	return fmt.Sprintf("%s-migrate-%s", site, rand.SafeEncodeString(fmt.Sprint(h.Sum64()))[:10])
}

// AnnotationDatabase on a migration Job names the copy it upgrades; the
// controller writes the Job's own DATABASE_* Secret (named like the Job)
// for it.
const AnnotationDatabase = "deploy.understudy.dev/database"

// migrationJob renders the Job that upgrades a candidate copy. Its pod gets
// DATABASE_* settings naming the copy from a Secret of its own, never
// repointed: a migration pod that starts late (or after its release was
// cancelled) can only ever reach that copy.
func migrationJob(s *v1.SiteDeployment, c *v1.DatabaseCandidate, name string, now time.Time) *batchv1.Job {
	spec := s.Spec.Database.Migration
	tmpl := spec.Template.DeepCopy()
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	ref := corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}}}
	env := []corev1.EnvVar{{Name: "SCHEMA_REVISION", Value: c.SchemaRevision}, {Name: "COLOR", Value: string(c.Color)}}
	for _, list := range [][]corev1.Container{tmpl.Spec.InitContainers, tmpl.Spec.Containers} {
		for i := range list {
			list[i].EnvFrom = append(list[i].EnvFrom, ref)
			list[i].Env = append(list[i].Env, env...)
		}
	}
	withLogsOnError(tmpl)
	labels := map[string]string{v1.LabelSite: s.Name, v1.LabelMigration: string(c.Color)}
	tmpl.Labels = kmeta.Merge(tmpl.Labels, labels)
	job := &batchv1.Job{Spec: batchv1.JobSpec{Template: *tmpl, BackoffLimit: ptr.To[int32](0)}}
	job.Name, job.Namespace, job.Labels = name, s.Namespace, labels
	job.Annotations = map[string]string{AnnotationCheckStarted: now.UTC().Format(time.RFC3339Nano), AnnotationDatabase: c.Name}
	if spec.Timeout != nil && spec.Timeout.Seconds() >= 1 {
		job.Spec.ActiveDeadlineSeconds = ptr.To(int64(spec.Timeout.Seconds()))
	}
	return job
}
