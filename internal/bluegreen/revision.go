package bluegreen

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"

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

// attemptParts are what a release runs besides its pod template and what a
// person may change to fix a failed release, by the name a message gives
// them: its migration, its checks and the deadlines it had to meet.
func attemptParts(spec *v1.SiteDeploymentSpec) [][2]string {
	var migration, copyTimeout any
	if d := spec.Database; d != nil {
		migration, copyTimeout = d.Migration, d.CopyTimeout
	}
	parts := [][2]string{
		{"spec.database.migration", hashOf(migration)},
		{"spec.strategy.prePromotion", hashOf(spec.Strategy.PrePromotion)},
		{"spec.strategy.postPromotion", hashOf(spec.Strategy.PostPromotion)},
		{"spec.strategy.progressDeadline", hashOf(spec.Strategy.ProgressDeadline)},
		{"spec.database.copyTimeout", hashOf(copyTimeout)},
	}
	if spec.Strategy.Soak != nil {
		// Last and only when set: the attempts recorded before soak
		// existed stay equal.
		parts = append(parts, [2]string{"spec.strategy.soak", hashOf(spec.Strategy.Soak)})
	}
	return parts
}

// Attempt names what a release of spec.template runs besides its
// template (attemptParts), one short hash per part: an aborted revision is
// released again once it changes (status.abortedAttempt).
func Attempt(spec *v1.SiteDeploymentSpec) string {
	var out []string
	for _, p := range attemptParts(spec) {
		out = append(out, p[1])
	}
	return strings.Join(out, ".")
}

// attemptChanges names the parts of spec that differ from an attempt.
func attemptChanges(spec *v1.SiteDeploymentSpec, attempt string) []string {
	was := strings.Split(attempt, ".")
	var out []string
	for i, p := range attemptParts(spec) {
		if i >= len(was) || was[i] != p[1] {
			out = append(out, p[0])
		}
	}
	return out
}

// hashOf is a short hash of v's JSON; "-" for nil.
func hashOf(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cannot marshal %T: %v", v, err)) // spec types always marshal
	}
	if string(raw) == "null" {
		return "-"
	}
	h := fnv.New32a()
	_, _ = h.Write(raw)
	return rand.SafeEncodeString(fmt.Sprintf("%010d", h.Sum32()))[:6]
}
