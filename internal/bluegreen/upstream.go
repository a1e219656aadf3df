package bluegreen

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// What qualifies a revision on an upstream site (spec.promotion): the
// upstream's live revision (the one its active Service selects) ran every
// image of the candidate, by digest, and the candidate's schema revision,
// took traffic at least minLiveDuration ago, passed its post-promotion
// check, and was not rolled back; and the upstream is not failing. A
// candidate image named by tag matches the upstream's record of that same
// tag and is pinned to the digest the upstream resolved; one named by
// digest matches that digest.

// Upstream is one of spec.promotion.upstreams as the controller read it.
type Upstream struct {
	Namespace, Name string
	// Site is the upstream SiteDeployment; nil when it could not be read
	// (Problem says why).
	Site    *v1.SiteDeployment
	Problem string
	// Unwatched: read past the cache (outside the manager's namespaces):
	// no event tells of its changes, so a waiting site looks again after
	// UpstreamPoll.
	Unwatched bool
}

// UpstreamPoll is how often a site waiting for an upstream it cannot
// watch reads it again.
const UpstreamPoll = 30 * time.Second

func (u Upstream) key() string { return u.Namespace + "/" + u.Name }

// verdict is what one upstream says about a candidate.
type verdict struct {
	status v1.UpstreamStatus
	// pins are the upstream's digests of the candidate's tagged images.
	pins []v1.PinnedImage
	// at: when it qualifies by time alone (zero: not a matter of time).
	at time.Time
	// qualifiedBy names the upstream and the revision it ran.
	qualifiedBy string
}

func (v verdict) ok() bool { return v.status.Qualified }

// judge tells whether an upstream qualifies a candidate of template t and
// schema revision schema (empty without spec.database).
func judge(u Upstream, t *corev1.PodTemplateSpec, schema string, minLive time.Duration, now time.Time) verdict {
	v := verdict{status: v1.UpstreamStatus{Namespace: u.Namespace, Name: u.Name}}
	not := func(format string, args ...any) verdict {
		v.status.Message = u.key() + " " + fmt.Sprintf(format, args...)
		return v
	}
	if u.Site == nil {
		return not("%s", u.Problem)
	}
	st := &u.Site.Status
	v.status.Revision = st.ActiveRevision
	live := liveRecord(st)
	if live == nil {
		if st.ActiveRevision == "" {
			return not("serves no revision yet (phase %s)", st.Phase)
		}
		return not("serves revision %s, which its status.history no longer records", st.ActiveRevision)
	}
	v.status.Images, v.status.LiveSince = ranImages(live), live.PromotedAt
	runs := fmt.Sprintf("runs %s (revision %s)", strings.Join(v.status.Images, ", "), live.Revision)
	pins, missing := matchImages(t, live)
	if missing != "" {
		return not("%s, not %s", runs, missing)
	}
	upSchema := live.SchemaRevision
	if upSchema == "" && st.Database != nil {
		upSchema = st.Database.SchemaRevision
	}
	if schema != "" && upSchema != "" && upSchema != schema {
		return not("%s on schema revision %s, not %s", runs, upSchema, schema)
	}
	if why := failing(u.Site); why != "" {
		return not("%s but %s", runs, why)
	}
	if until := live.PromotedAt.Add(minLive); now.Before(until) {
		v.at = until
		return not("%s, live since %s: less than %s; qualifies at %s", runs, live.PromotedAt.UTC().Format(time.RFC3339),
			minLive, until.UTC().Format(time.RFC3339))
	}
	v.status.Qualified, v.pins = true, pins
	v.qualifiedBy = u.key() + "@" + live.Revision
	v.status.Message = fmt.Sprintf("%s %s, live since %s", u.key(), runs, live.PromotedAt.UTC().Format(time.RFC3339))
	if schema != "" && upSchema == "" {
		v.status.Message += "; schema revision not compared: it has no spec.database"
	}
	return v
}

// liveRecord is the history entry of the revision an upstream serves, when
// it took traffic and was neither rolled back nor failed since.
func liveRecord(st *v1.SiteDeploymentStatus) *v1.RevisionRecord {
	for i := range st.History {
		if h := &st.History[i]; h.Revision == st.ActiveRevision && h.PromotedAt != nil {
			return h
		}
	}
	return nil
}

// failing says why an upstream's live revision does not count now: a
// post-promotion check still running or failed, a rollback, a failure, or
// a live color that lost replicas. A release of another revision in flight
// upstream does not matter: its live revision still serves.
func failing(up *v1.SiteDeployment) string {
	st := &up.Status
	live := liveRecord(st)
	switch {
	case live.Outcome != v1.OutcomePromoted:
		return fmt.Sprintf("it is %s", strings.ToLower(string(live.Outcome)))
	case st.PostPromotionRevision == st.ActiveRevision:
		return "its post-promotion check has not passed yet"
	}
	switch st.Phase {
	case v1.PhaseHealthy:
		return ""
	case v1.PhaseProgressing, v1.PhaseAwaitingPromotion, v1.PhasePromoting, v1.PhaseAwaitingUpstream:
		if st.PreviewRevision != "" && st.PreviewRevision != st.ActiveRevision || st.Phase == v1.PhaseAwaitingUpstream {
			return "" // releasing another revision beside it
		}
	}
	if st.Message != "" {
		return fmt.Sprintf("it is %s: %s", st.Phase, st.Message)
	}
	return fmt.Sprintf("it is %s", st.Phase)
}

// ranImages are an upstream revision's images as it ran them: image@digest
// where it recorded the digest.
func ranImages(h *v1.RevisionRecord) []string {
	out := make([]string, 0, len(h.Images))
	for _, img := range h.Images {
		if i := slices.IndexFunc(h.Digests, func(p v1.PinnedImage) bool { return p.Image == img }); i >= 0 {
			img += "@" + short(h.Digests[i].Digest)
		}
		out = append(out, img)
	}
	return out
}

// matchImages checks that the upstream revision h ran every image of t and
// returns the digests to pin t's tagged containers to. missing names what
// h did not run.
func matchImages(t *corev1.PodTemplateSpec, h *v1.RevisionRecord) (pins []v1.PinnedImage, missing string) {
	var absent []string
	check := func(c corev1.Container, pin bool) {
		if _, d, byDigest := strings.Cut(c.Image, "@"); byDigest {
			if !slices.Contains(ranDigests(h), d) {
				absent = append(absent, c.Image)
			}
			return
		}
		i := slices.IndexFunc(h.Digests, func(p v1.PinnedImage) bool { return p.Image == c.Image })
		switch {
		case i >= 0 && pin:
			pins = append(pins, v1.PinnedImage{Container: c.Name, Image: c.Image, Digest: h.Digests[i].Digest})
		case i >= 0:
		case slices.Contains(h.Images, c.Image):
			absent = append(absent, c.Image+" by digest (it recorded none for that tag: its first revision, or a runtime that reports no digests)")
		default:
			absent = append(absent, c.Image)
		}
	}
	for _, c := range t.Spec.InitContainers {
		check(c, false) // init containers are not pinned (PinImages)
	}
	for _, c := range t.Spec.Containers {
		check(c, true)
	}
	return pins, strings.Join(absent, ", ")
}

// ranDigests are the digests an upstream revision ran: the ones its pods
// resolved, and the ones its spec named.
func ranDigests(h *v1.RevisionRecord) []string {
	var out []string
	for _, p := range h.Digests {
		out = append(out, p.Digest)
	}
	for _, img := range h.Images {
		if _, d, ok := strings.Cut(img, "@"); ok {
			out = append(out, d)
		}
	}
	return out
}

// mergePins joins the upstreams' digests; two upstreams that resolved one
// tag to different digests did not run the same bits.
func mergePins(vs []verdict) (pins []v1.PinnedImage, conflict string) {
	by := map[string]int{}
	for _, v := range vs {
		for _, p := range v.pins {
			i, seen := by[p.Container]
			if !seen {
				by[p.Container] = len(pins)
				pins = append(pins, p)
				continue
			}
			if pins[i].Digest != p.Digest {
				return nil, fmt.Sprintf("the upstreams ran different digests of %s (%s and %s)", p.Image, short(pins[i].Digest), short(p.Digest))
			}
		}
	}
	return pins, ""
}

func timeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}
