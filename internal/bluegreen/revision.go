package bluegreen

import (
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Revision is the name of a pod template: a short, label-safe hash of it.
// Equal templates have equal revisions, so a `git revert` of spec.template
// lands on a revision that may still be warm.
func Revision(t *corev1.PodTemplateSpec) string {
	raw, err := json.Marshal(t)
	if err != nil {
		// A PodTemplateSpec always marshals; a failure here is a programming error.
		panic(fmt.Sprintf("cannot marshal pod template: %v", err))
	}
	h := fnv.New64a()
	_, _ = h.Write(raw)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum64()))[:10]
}

// Images lists the container images of a template, init containers first.
func Images(t *corev1.PodTemplateSpec) []string {
	var out []string
	for _, c := range t.Spec.InitContainers {
		out = append(out, c.Image)
	}
	for _, c := range t.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}
