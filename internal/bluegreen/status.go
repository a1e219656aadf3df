package bluegreen

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/conditions"
)

// record sets the outcome of rev in the history (newest first), adding it
// when missing; promotedAt, when given, moves it to the front and records
// the database it now serves from (the caller has switched status.database).
func (p *planner) record(rev string, outcome v1.RevisionOutcome, promotedAt *metav1.Time) {
	h := p.st.History
	idx := -1
	for i := range h {
		if h[i].Revision == rev {
			idx = i
			break
		}
	}
	var rec v1.RevisionRecord
	if idx >= 0 {
		rec = h[idx]
		h = append(h[:idx:idx], h[idx+1:]...)
	} else {
		rec = v1.RevisionRecord{Revision: rev}
		if t := p.templateOf(rev); t != nil {
			rec.Images = Images(t)
			if len(h) > 0 {
				rec.Changes = Changes(p.templateOf(h[0].Revision), t)
			}
		}
		if rev == p.st.CurrentRevision && p.spec.Database != nil {
			rec.SchemaRevision = p.spec.Database.SchemaRevision
		}
	}
	rec.Outcome = outcome
	p.markGate(&rec)
	if promotedAt != nil {
		rec.PromotedAt = promotedAt
		if d := p.st.Database; d != nil && d.ActiveName != "" {
			rec.Database = d.ActiveName
		}
		h = append([]v1.RevisionRecord{rec}, h...)
	} else if idx >= 0 {
		h = append(h[:idx:idx], append([]v1.RevisionRecord{rec}, h[idx:]...)...)
	} else {
		h = append([]v1.RevisionRecord{rec}, h...)
	}
	if limit := int(ptr.Deref(p.spec.RevisionHistoryLimit, 10)); limit > 0 && len(h) > limit {
		h = h[:limit]
	}
	p.st.History = h
}

// finish fills in what is derived from the decision: replica counts for
// kubectl and the scale subresource, conditions, and the next wake-up.
func (p *planner) finish() {
	p.dbFinish()
	p.endAnalyses()
	p.dropRevisions()
	st := p.st
	st.ObservedGeneration = p.site.Generation
	p.attemptNote()
	p.groupFinish()
	st.Phase = p.phase
	st.Message = p.message
	if st.ActiveColor != "" && p.in.Deployments[st.ActiveColor] != nil {
		st.Replicas, st.ReadyReplicas = p.replicas(st.ActiveColor), p.available(st.ActiveColor)
		st.Selector = fmt.Sprintf("%s=%s,%s=%s", v1.LabelSite, p.site.Name, v1.LabelColor, st.ActiveColor)
	} else if p.in.Deployments[v1.Blue] != nil {
		st.Replicas, st.ReadyReplicas = p.replicas(v1.Blue), p.available(v1.Blue)
	}
	st.Ready = fmt.Sprintf("%d/%d", st.ReadyReplicas, p.spec.DesiredReplicas())
	st.RollbackRevision = ""
	if st.ActiveRevision != "" && st.ActiveRevision == st.CurrentRevision {
		st.RollbackRevision = p.rollbackTarget(st.ActiveRevision)
	}
	p.setConditions()
	p.plan.Status = *st
	if len(p.plan.DatabaseSteps)+len(p.plan.SwitchSteps)+len(p.plan.AfterSwitchSteps) > 0 {
		p.wakeAt(p.now.Add(DatabaseRecheck)) // look again at what the steps did
	}

	sort.Slice(p.wakes, func(i, j int) bool { return p.wakes[i].Before(p.wakes[j]) })
	for _, w := range p.wakes {
		if d := w.Sub(p.now); d > 0 {
			p.plan.RequeueAfter = d
			break
		}
	}
}

func (p *planner) setConditions() {
	ready, reason := metav1.ConditionFalse, string(p.phase)
	var progressing, degraded bool
	switch p.phase {
	case v1.PhaseHealthy:
		ready, reason = metav1.ConditionTrue, v1.ReasonSucceeded
	case v1.PhasePending, v1.PhaseProgressing, v1.PhasePromoting, v1.PhaseAwaitingPromotion, v1.PhaseAwaitingUpstream, v1.PhaseAwaitingGroup:
		progressing = true
	case v1.PhaseDegraded, v1.PhaseAborted:
		degraded = true
		if p.st.AbortReason != "" {
			reason = p.st.AbortReason
		}
	case v1.PhasePaused:
		ready, reason = "", v1.ReasonPaused
	}
	if p.reason != "" {
		reason = p.reason
	}
	msg := p.message
	if msg == "" {
		msg = strings.ToLower(string(p.phase))
	}
	conditions.Set(&p.st.Conditions, conditions.Uniform(ready, progressing, degraded, reason, msg), p.site.Generation, p.now)
}
