package bluegreen

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/poddiag"
)

// PodProblem is a pod of a color that is not becoming ready, and why
// (poddiag). A pod whose container runs unready but within
// poddiag.NotReadyGrace has no Headline yet, and NamedAt says when it will
// have one.
type PodProblem struct {
	Revision string
	poddiag.Problem
	NamedAt time.Time
}

// candidateNotReady names, in the message of a candidate that is not
// available yet, the first of its pods that is not becoming ready (its
// container's waiting reason and last termination), with a Warning event
// when that is news: a person sees a crashing candidate within seconds,
// not at its progress deadline. The release still waits for the deadline.
func (p *planner) candidateNotReady(c *candidate) {
	pr, ok := p.notReady(c)
	if !ok {
		return
	}
	if !c.rollback {
		p.reason = v1.ReasonCandidateNotReady
	}
	p.message += ": " + pr.String()
	if !strings.Contains(p.site.Status.Message, pr.Headline) {
		p.event(true, v1.EventCandidateNotReady, fmt.Sprintf("revision %s on %s is not becoming ready: %s", c.target, c.idle, pr))
	}
}

// notReady is the first pod of the candidate that is not becoming ready;
// a pod that may still turn ready is looked at again when it would be named.
func (p *planner) notReady(c *candidate) (PodProblem, bool) {
	for _, pr := range p.in.NotReady[c.idle] {
		switch {
		case pr.Revision != c.target:
		case pr.Headline == "":
			p.wakeAt(pr.NamedAt)
		default:
			return pr, true
		}
	}
	return PodProblem{}, false
}
