package bluegreen

import (
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Revision is the name of a pod template: a short, label-safe hash of it.
// Equal templates have equal revisions, so a `git revert` of spec.template
// lands on a revision that may still be warm.
func Revision(t *corev1.PodTemplateSpec) string { return shortHash(t) }

// shortHash is a short, label-safe hash of v's JSON form.
func shortHash(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		// API types always marshal; a failure here is a programming error.
		panic(fmt.Sprintf("cannot marshal %T: %v", v, err))
	}
	h := fnv.New64a()
	_, _ = h.Write(raw)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum64()))[:10]
}

// SiteRevision is the revision of a site's spec: its pod template and,
// with spec.database, the schema revision the template expects, so that a
// new schema revision is a new release even with the same template.
func SiteRevision(spec *v1.SiteDeploymentSpec) string {
	if spec.Database == nil {
		return Revision(&spec.Template)
	}
	t := spec.Template.DeepCopy()
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[annotationSchemaRevision] = spec.Database.SchemaRevision
	return Revision(t)
}

// annotationSchemaRevision only enters the revision hash of a site with a
// database; it is never written to an object.
const annotationSchemaRevision = "deploy.understudy.dev/schema-revision"

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
