package bluegreen

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// One rollout per release: a new candidate's tags are resolved at the
// registry before its first pod (Plan.Resolve; the controller asks and
// decides again with Observed.Resolved), so it starts on image@digest, the
// pods that are checked are the pods that take traffic, and the scale-up
// only adds pods. When the registry cannot be asked, the candidate starts
// on its tags and its digests are read from its Ready preview pods
// (recordDigests), as before; its template is then pinned at the scale-up
// only when new pods start anyway (pinnedInTemplate).

// ResolveRequest asks the controller for the digests of a revision's tags
// before its candidate starts.
type ResolveRequest struct {
	Revision string
	// Images are the containers whose image is a tag (not named by digest,
	// not pinned by the promotion gate).
	Images []v1.PinnedImage
	// Template is the revision's pod template: its imagePullSecrets and
	// service account say which pull secrets to use.
	Template *corev1.PodTemplateSpec
}

// Resolution is what the registry said of a ResolveRequest.
type Resolution struct {
	Revision string
	// Pins are the digests of every requested image; nil on Err.
	Pins []v1.PinnedImage
	// Err is why the registry could not be asked or refused.
	Err string
}

// toResolve lists the containers of c's template whose image is a tag the
// promotion gate does not pin.
func (p *planner) toResolve(c *candidate) []v1.PinnedImage {
	gate := pinned(p.gatePins(c.target))
	var out []v1.PinnedImage
	for _, ct := range c.tmpl.Spec.Containers {
		if _, ok := gate[ct.Name]; ok || strings.Contains(ct.Image, "@") {
			continue
		}
		out = append(out, v1.PinnedImage{Container: ct.Name, Image: ct.Image})
	}
	return out
}

// resolveDigests records, for a candidate starting, the digests its pods
// start on; without an answer yet, it asks the controller (Plan.Resolve).
func (p *planner) resolveDigests(c *candidate) {
	want := p.toResolve(c)
	if len(want) == 0 {
		return
	}
	r := p.in.Resolved
	if r == nil || r.Revision != c.target {
		p.plan.Resolve = &ResolveRequest{Revision: c.target, Images: want, Template: c.tmpl}
		return
	}
	if r.Err != "" {
		p.st.PreviewDigestsFrom = v1.DigestsFromPods
		p.event(true, v1.EventDigestsFromPods, fmt.Sprintf("cannot resolve the tags of revision %s at the registry (%s): it starts on its tags "+
			"and is pinned to the digests its Ready preview pods report", c.target, r.Err))
		return
	}
	p.st.PreviewDigests = slices.Clone(r.Pins)
	p.st.PreviewDigestsFrom = v1.DigestsFromRegistry
}

// pinnedInTemplate tells whether the candidate's own pins (pins) are in
// its Deployment's template at stage s. Resolved at the registry, or
// coming back with the digests it ran (a rollback, a revert): from its
// first pod. Read from its preview pods: only at full size, and only when
// the scale-up starts pods anyway (more replicas, or preview settings
// dropped); a candidate whose preview ran at full size on the recorded
// digests keeps its pods. The trade-off: a pod of that revision started
// later (a node lost) pulls the tag again; recordDigests holds the release
// if one does before the switch, and after it the revision's history
// keeps the digests it was checked on.
func (p *planner) pinnedInTemplate(c *candidate, s candidateStage) bool {
	switch {
	case c.rollback || c.fast || p.st.PreviewDigestsFrom == v1.DigestsFromRegistry:
		return true
	case s != stageFull:
		return false
	default:
		return c.previewSize < c.full || PreviewHash(p.spec.Strategy.Preview) != ""
	}
}
