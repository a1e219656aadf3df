package bluegreen

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Preview-only settings (spec.strategy.preview): environment variables and
// annotations a candidate's pods get only while they are not live. The
// candidate's Deployment carries them at preview size; the scale-up before
// the switch writes the template again without them, on the checked
// digests, and the switch waits until every pod runs that template (a
// candidate is warm only without them). Like the DATABASE_* settings, they
// are added when a template is written and never enter the revision.

// PreviewHash names a set of preview settings; "" for none.
func PreviewHash(ps *v1.PreviewSettings) string {
	if ps == nil || len(ps.Env) == 0 && len(ps.Annotations) == 0 {
		return ""
	}
	return shortHash(ps)
}

// PreviewOf is the hash of the preview settings a pod template carries.
func PreviewOf(t *corev1.PodTemplateSpec) string { return t.Annotations[v1.AnnotationPreviewSettings] }

// WithPreview adds preview settings to a pod template being written: env
// to every container (replacing a variable of the same name), annotations
// to the pods, and the AnnotationPreviewSettings mark.
func WithPreview(t *corev1.PodTemplateSpec, ps *v1.PreviewSettings) {
	mark := PreviewHash(ps)
	if mark == "" {
		return
	}
	for _, list := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for i := range list {
			env := slices.DeleteFunc(list[i].Env, func(e corev1.EnvVar) bool {
				return slices.ContainsFunc(ps.Env, func(p corev1.EnvVar) bool { return p.Name == e.Name })
			})
			list[i].Env = append(env, ps.Env...)
		}
	}
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	for k, v := range ps.Annotations {
		t.Annotations[k] = v
	}
	t.Annotations[v1.AnnotationPreviewSettings] = mark
}

// inPreview tells whether a Deployment's pods run with preview settings.
func inPreview(d *appsv1.Deployment) bool { return d != nil && PreviewOf(&d.Spec.Template) != "" }

// previewAt are the preview settings of the candidate's Deployment at a
// stage: only at preview size, and never for a revision coming back
// without checks (a rollback, a revert).
func (p *planner) previewAt(c *candidate, s candidateStage) *v1.PreviewSettings {
	if s != stagePreview || c.fast {
		return nil
	}
	return p.spec.Strategy.Preview
}
