package bluegreen

import (
	"slices"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// What a site remembers of the revisions that took its traffic
// (status.served), for the promotion gates of the sites downstream of it
// (upstream.go): a switch opens a revision's entry and closes the one
// before, a passed post-promotion check verifies it, and an abort while
// it served rejects it for good. Status is the memory: it survives a
// restart and the history limit, and is bounded by ServedLimit.

// ServedLimit bounds status.served.
const ServedLimit = 16

// served is the index of rev's entry in status.served; -1 when none.
func (p *planner) served(rev string) int {
	return slices.IndexFunc(p.st.Served, func(e v1.ServedRevision) bool { return e.Revision == rev })
}

// noteServed records that rev, history[0], took traffic now from the
// revision from: it is verified at once unless a post-promotion check
// runs.
func (p *planner) noteServed(rev, from string) {
	now := p.time()
	p.backfillServed(from)
	for i := range p.st.Served {
		if e := &p.st.Served[i]; e.LiveUntil == nil && e.Revision != rev {
			e.LiveUntil = now
		}
	}
	e := v1.ServedRevision{Revision: rev}
	if i := p.served(rev); i >= 0 {
		e = p.st.Served[i]
		p.st.Served = slices.Delete(p.st.Served, i, i+1)
	}
	h := p.st.History[0]
	e.Images, e.Digests, e.SchemaRevision = h.Images, h.Digests, h.SchemaRevision
	e.LiveSince, e.LiveUntil, e.VerifiedAt = *now, nil, nil
	if p.st.PostPromotionRevision != rev {
		e.VerifiedAt = now
	}
	p.st.Served = trimServed(append([]v1.ServedRevision{e}, p.st.Served...))
}

// backfillServed gives rev an entry when it took traffic but has none: it
// did under a manager from before status.served, and history (this pass's,
// else the one read) still records it. Verified: its check passed, when
// is not known.
func (p *planner) backfillServed(rev string) {
	if rev == "" || p.served(rev) >= 0 {
		return
	}
	h := historyOf(p.st.History, rev)
	if h == nil {
		h = historyOf(p.site.Status.History, rev)
	}
	if h == nil || h.PromotedAt == nil {
		return
	}
	e := v1.ServedRevision{Revision: rev, Images: h.Images, Digests: h.Digests, SchemaRevision: h.SchemaRevision, LiveSince: *h.PromotedAt}
	switch {
	case h.Outcome != v1.OutcomePromoted:
		e.Rejected = string(h.Outcome)
	case p.site.Status.PostPromotionRevision != rev:
		e.VerifiedAt = h.PromotedAt
	}
	if p.st.ActiveRevision != rev {
		e.LiveUntil = p.time()
	}
	p.st.Served = trimServed(append(p.st.Served, e))
}

func historyOf(h []v1.RevisionRecord, rev string) *v1.RevisionRecord {
	if i := slices.IndexFunc(h, func(r v1.RevisionRecord) bool { return r.Revision == rev }); i >= 0 {
		return &h[i]
	}
	return nil
}

// verifyServed records that rev's post-promotion check passed.
func (p *planner) verifyServed(rev string) {
	if i := p.served(rev); i >= 0 && p.st.Served[i].Rejected == "" {
		p.st.Served[i].VerifiedAt = p.time()
	}
}

// rejectServed records that rev, which took traffic, was aborted or
// failed a check: it never qualifies a downstream release.
func (p *planner) rejectServed(rev, reason string) {
	p.backfillServed(rev)
	if i := p.served(rev); i >= 0 {
		p.st.Served[i].Rejected, p.st.Served[i].VerifiedAt = reason, nil
	}
}

// trimServed keeps ServedLimit entries, dropping the oldest that was
// replaced without a rejection first, so that a rejection is forgotten
// last.
func trimServed(s []v1.ServedRevision) []v1.ServedRevision {
	for len(s) > ServedLimit {
		drop := len(s) - 1
		for i := len(s) - 1; i >= 0; i-- {
			if s[i].Rejected == "" && s[i].LiveUntil != nil {
				drop = i
				break
			}
		}
		s = slices.Delete(s, drop, drop+1)
	}
	return s
}
