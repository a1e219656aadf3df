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

// What qualifies a revision on an upstream site (spec.promotion): a
// revision of the upstream ran every image of the candidate, by digest,
// and the candidate's schema revision; it took traffic at least
// minLiveDuration, its post-promotion check passed, and the upstream
// never aborted or rolled it back. It may serve still (then the upstream
// must not be failing now) or have been replaced by a normal release: the
// upstream remembers what it served in status.served (served.go). A
// revision the upstream rejected after it took traffic never qualifies. A
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
	if u.Site == nil {
		v.status.Message = u.key() + " " + u.Problem
		return v
	}
	st := &u.Site.Status
	var best *verdict
	liveWhy := ""
	for _, e := range servedOf(st) {
		pins, why := ranBits(t, schema, &e, st)
		if why != "" {
			if isLive(st, &e) {
				liveWhy = why
			}
			continue
		}
		c := judgeServed(u, &e, pins, schema, minLive, now)
		if e.Rejected != "" {
			return c // never, whatever else it served
		}
		if best == nil || c.ok() && !best.ok() || !best.ok() && best.at.IsZero() && !c.at.IsZero() {
			best = &c
		}
	}
	if best != nil {
		return *best
	}
	v.status.Revision = st.ActiveRevision
	live := liveRecord(st)
	switch {
	case live == nil && st.ActiveRevision == "":
		v.status.Message = fmt.Sprintf("%s serves no revision yet (phase %s)", u.key(), st.Phase)
	case live == nil:
		v.status.Message = fmt.Sprintf("%s serves revision %s, which its status.history no longer records", u.key(), st.ActiveRevision)
	default:
		v.status.Images, v.status.LiveSince = ranImages(live.Images, live.Digests), live.PromotedAt
		v.status.Message = fmt.Sprintf("%s runs %s (revision %s)%s", u.key(), strings.Join(v.status.Images, ", "), live.Revision, liveWhy)
	}
	return v
}

// judgeServed tells whether served revision e, which ran the candidate's
// images, qualifies it.
func judgeServed(u Upstream, e *v1.ServedRevision, pins []v1.PinnedImage, schema string, minLive time.Duration, now time.Time) verdict {
	st := &u.Site.Status
	v := verdict{status: v1.UpstreamStatus{Namespace: u.Namespace, Name: u.Name, Revision: e.Revision,
		Images: ranImages(e.Images, e.Digests), LiveSince: &e.LiveSince, LiveUntil: e.LiveUntil}}
	ran := strings.Join(v.status.Images, ", ")
	since := e.LiveSince.UTC().Format(time.RFC3339)
	live := isLive(st, e)
	what := fmt.Sprintf("%s runs %s (revision %s), live since %s", u.key(), ran, e.Revision, since)
	served := now.Sub(e.LiveSince.Time)
	if !live && e.LiveUntil != nil {
		what = fmt.Sprintf("%s served %s (revision %s) from %s until %s", u.key(), ran, e.Revision, since, e.LiveUntil.UTC().Format(time.RFC3339))
		served = e.LiveUntil.Sub(e.LiveSince.Time)
	}
	not := func(format string, args ...any) verdict {
		v.status.Message = what + fmt.Sprintf(format, args...)
		return v
	}
	switch {
	case e.Rejected != "":
		v.status.Message = fmt.Sprintf("%s rejected revision %s (%s) after it took traffic at %s (%s): "+
			"a revision an upstream aborted or rolled back never qualifies", u.key(), e.Revision, ran, since, e.Rejected)
		return v
	case live:
		if why := failing(u.Site); why != "" {
			return not(" but %s", why)
		}
	case e.VerifiedAt == nil:
		return not(", replaced before its post-promotion check passed")
	}
	if served < minLive {
		if !live {
			return not(": less than %s", minLive)
		}
		v.at = e.LiveSince.Add(minLive)
		return not(": less than %s; qualifies at %s", minLive, v.at.UTC().Format(time.RFC3339))
	}
	v.status.Qualified, v.pins = true, pins
	v.qualifiedBy = u.key() + "@" + e.Revision
	v.status.Message = what
	if schema != "" && e.SchemaRevision == "" && (!live || st.Database == nil) {
		v.status.Message += "; schema revision not compared: it has no spec.database"
	}
	return v
}

// ranBits checks that served revision e ran t's images and schema
// revision; why says what it ran instead.
func ranBits(t *corev1.PodTemplateSpec, schema string, e *v1.ServedRevision, st *v1.SiteDeploymentStatus) (pins []v1.PinnedImage, why string) {
	pins, missing := matchImages(t, e.Images, e.Digests)
	if missing != "" {
		return nil, ", not " + missing
	}
	upSchema := e.SchemaRevision
	if upSchema == "" && isLive(st, e) && st.Database != nil {
		upSchema = st.Database.SchemaRevision
	}
	if schema != "" && upSchema != "" && upSchema != schema {
		return nil, fmt.Sprintf(" on schema revision %s, not %s", upSchema, schema)
	}
	return pins, ""
}

// isLive: e is the revision the upstream serves now.
func isLive(st *v1.SiteDeploymentStatus, e *v1.ServedRevision) bool {
	return e.LiveUntil == nil && e.Revision == st.ActiveRevision
}

// servedOf is what an upstream served: status.served, and from
// status.history what a status written before status.served existed
// records (its live revision, and revisions rejected after they took
// traffic).
func servedOf(st *v1.SiteDeploymentStatus) []v1.ServedRevision {
	out := slices.Clone(st.Served)
	for _, h := range st.History {
		if h.PromotedAt == nil || slices.ContainsFunc(out, func(e v1.ServedRevision) bool { return e.Revision == h.Revision }) {
			continue
		}
		e := v1.ServedRevision{Revision: h.Revision, Images: h.Images, Digests: h.Digests, SchemaRevision: h.SchemaRevision, LiveSince: *h.PromotedAt}
		switch {
		case h.Outcome == v1.OutcomeAborted || h.Outcome == v1.OutcomeFailed || h.Outcome == v1.OutcomeRolledBack:
			e.Rejected = string(h.Outcome)
		case h.Revision == st.ActiveRevision:
		default:
			continue // replaced, but for how long it served is not known
		}
		out = append(out, e)
	}
	return out
}

// liveRecord is the history entry of the revision an upstream serves, when
// it took traffic.
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
	switch live := liveRecord(st); {
	case live != nil && live.Outcome != v1.OutcomePromoted:
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
func ranImages(images []string, digests []v1.PinnedImage) []string {
	out := make([]string, 0, len(images))
	for _, img := range images {
		if i := slices.IndexFunc(digests, func(p v1.PinnedImage) bool { return p.Image == img }); i >= 0 {
			img += "@" + short(digests[i].Digest)
		}
		out = append(out, img)
	}
	return out
}

// matchImages checks that an upstream revision that ran images (resolved
// to digests) ran every image of t and returns the digests to pin t's
// tagged containers to. missing names what it did not run.
func matchImages(t *corev1.PodTemplateSpec, images []string, digests []v1.PinnedImage) (pins []v1.PinnedImage, missing string) {
	var absent []string
	check := func(c corev1.Container, pin bool) {
		if _, d, byDigest := strings.Cut(c.Image, "@"); byDigest {
			if !slices.Contains(ranDigests(images, digests), d) {
				absent = append(absent, c.Image)
			}
			return
		}
		i := slices.IndexFunc(digests, func(p v1.PinnedImage) bool { return p.Image == c.Image })
		switch {
		case i >= 0 && pin:
			pins = append(pins, v1.PinnedImage{Container: c.Name, Image: c.Image, Digest: digests[i].Digest})
		case i >= 0:
		case slices.Contains(images, c.Image):
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
func ranDigests(images []string, digests []v1.PinnedImage) []string {
	var out []string
	for _, p := range digests {
		out = append(out, p.Digest)
	}
	for _, img := range images {
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
