package bluegreen

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// annotationChangeCause on a pod template says in words what a revision
// changes (as kubectl's rollout history reads it).
const annotationChangeCause = "kubernetes.io/change-cause"

// maxChanges bounds status.history[].changes (the API's maxItems).
const maxChanges = 8

// Changes says what next changes from prev, for status.history: the
// template's change-cause annotation when it has one, else each
// container's new image, environment values and command, so that two
// revisions of one image read differently. Values from Secrets or
// ConfigMaps are named, never read.
func Changes(prev, next *corev1.PodTemplateSpec) []string {
	if next == nil {
		return nil
	}
	if cause := next.Annotations[annotationChangeCause]; cause != "" {
		return []string{cause}
	}
	if prev == nil {
		return nil
	}
	var out []string
	before := map[string]corev1.Container{}
	for _, c := range allContainers(prev) {
		before[c.Name] = c
	}
	for _, c := range allContainers(next) {
		old, ok := before[c.Name]
		delete(before, c.Name)
		if !ok {
			out = append(out, fmt.Sprintf("%s: added (%s)", c.Name, c.Image))
			continue
		}
		out = append(out, containerChanges(old, c)...)
	}
	for _, c := range allContainers(prev) {
		if _, gone := before[c.Name]; gone {
			out = append(out, c.Name+": removed")
		}
	}
	if len(out) == 0 && !equality.Semantic.DeepEqual(prev, next) {
		out = append(out, "pod template changed")
	}
	if len(out) > maxChanges {
		out = append(out[:maxChanges-1], fmt.Sprintf("and %d more changes", len(out)-maxChanges+1))
	}
	return out
}

func allContainers(t *corev1.PodTemplateSpec) []corev1.Container {
	return append(slices.Clone(t.Spec.InitContainers), t.Spec.Containers...)
}

func containerChanges(old, c corev1.Container) []string {
	var out []string
	if old.Image != c.Image {
		out = append(out, fmt.Sprintf("%s: image %s (was %s)", c.Name, c.Image, old.Image))
	}
	was := map[string]corev1.EnvVar{}
	for _, e := range old.Env {
		was[e.Name] = e
	}
	for _, e := range c.Env {
		o, ok := was[e.Name]
		delete(was, e.Name)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: env %s", c.Name, envText(e)))
		case !equality.Semantic.DeepEqual(o, e):
			out = append(out, fmt.Sprintf("%s: env %s (was %s)", c.Name, envText(e), envValue(o)))
		}
	}
	for _, e := range old.Env {
		if _, gone := was[e.Name]; gone {
			out = append(out, fmt.Sprintf("%s: env %s removed", c.Name, e.Name))
		}
	}
	if !slices.Equal(old.Command, c.Command) || !slices.Equal(old.Args, c.Args) {
		out = append(out, c.Name+": command changed")
	}
	return out
}

func envText(e corev1.EnvVar) string { return e.Name + "=" + envValue(e) }

func envValue(e corev1.EnvVar) string {
	switch f := e.ValueFrom; {
	case f == nil:
		return e.Value
	case f.SecretKeyRef != nil:
		return "(Secret " + f.SecretKeyRef.Name + ")"
	case f.ConfigMapKeyRef != nil:
		return "(ConfigMap " + f.ConfigMapKeyRef.Name + ")"
	default:
		return "(from the pod)"
	}
}
