// Package plugin is the kubectl understudy plugin: commands that read a
// SiteDeployment or DatabaseRefresh and write exactly the annotation its
// docs name. Decisions (what may be promoted, aborted, rolled back; whether
// a wait is over) are pure functions here; the commands only read and patch.
package plugin

import (
	"fmt"
	"strings"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Candidate is the revision awaiting promotion, "" when there is none.
func Candidate(st *v1.SiteDeploymentStatus) string {
	if st.PreviewRevision == "" || st.PreviewRevision == st.AbortedRevision {
		return ""
	}
	return st.PreviewRevision
}

// PromoteTarget is the revision promote annotates: the candidate, which
// want (when given) must name. A revision that waits for its upstreams
// has not started: it is approved in advance only when want names it
// (the controller's answer then says it still waits for its upstreams and
// its checks); without want the error says what it waits for and how to
// skip the gate.
func PromoteTarget(name string, st *v1.SiteDeploymentStatus, want string) (string, error) {
	c := Candidate(st)
	if w, err := SkipGateTarget(name, st, ""); c == "" && err == nil {
		if want == w {
			return w, nil
		}
		return "", fmt.Errorf("sitedeployment %s has no candidate to approve: revision %s has not started, it waits for its upstreams (%s); "+
			"`kubectl understudy skip-gate %s` starts it without them (a hotfix, recorded in history), "+
			"or `kubectl understudy promote %s --revision %s` approves it in advance (it still waits for its upstreams, then for its checks)",
			name, w, waitsFor(st.Promotion), name, name, w)
	}
	switch {
	case c == "":
		return "", fmt.Errorf("sitedeployment %s has no candidate awaiting promotion (phase %s)", name, phaseOf(st))
	case want != "" && want != c:
		return "", fmt.Errorf("revision %s is not the candidate of sitedeployment %s: the candidate is %s", want, name, c)
	}
	return c, nil
}

// AbortTarget is the candidate abort annotates, or the revision waiting
// for its upstreams.
func AbortTarget(name string, st *v1.SiteDeploymentStatus) (string, error) {
	if c := Candidate(st); c != "" {
		return c, nil
	}
	if w, err := SkipGateTarget(name, st, ""); err == nil {
		return w, nil
	}
	return "", fmt.Errorf("sitedeployment %s has no candidate to abort; `kubectl understudy rollback %s` rolls the active revision back", name, name)
}

// RollbackTarget is the active revision rollback annotates. The controller
// publishes whether a rollback applies, and to which revision, in
// status.rollbackRevision; the Argo CD scripts
// (config/argocd/.../SiteDeployment/actions) read the same field.
func RollbackTarget(name string, st *v1.SiteDeploymentStatus) (string, error) {
	if Candidate(st) != "" {
		return "", fmt.Errorf("sitedeployment %s has a candidate (%s) in flight: abort it instead", name, st.PreviewRevision)
	}
	if st.ActiveRevision == "" || st.ActiveRevision == st.AbortedRevision {
		return "", fmt.Errorf("sitedeployment %s has no active revision to roll back (phase %s)", name, phaseOf(st))
	}
	if st.RollbackRevision == "" {
		return "", fmt.Errorf("sitedeployment %s has nothing to roll back to: no earlier revision in status.history was promoted and not aborted since", name)
	}
	return st.ActiveRevision, nil
}

// SkipGateTarget is the revision skip-gate annotates: the one waiting for
// its upstreams (status.promotion), which want (when given) must name.
func SkipGateTarget(name string, st *v1.SiteDeploymentStatus, want string) (string, error) {
	pr := st.Promotion
	switch {
	case st.Phase != v1.PhaseAwaitingUpstream || pr == nil || pr.Gate != "":
		return "", fmt.Errorf("sitedeployment %s has no release waiting for its upstreams (phase %s)", name, phaseOf(st))
	case want != "" && want != pr.Revision:
		return "", fmt.Errorf("revision %s is not the one waiting for its upstreams in sitedeployment %s: that is %s", want, name, pr.Revision)
	}
	return pr.Revision, nil
}

// PromoteNote is what promote adds when rev is approved in advance, "" otherwise.
func PromoteNote(name string, st *v1.SiteDeploymentStatus, rev string) string {
	if w, err := SkipGateTarget(name, st, ""); err != nil || w != rev || Candidate(st) != "" {
		return ""
	}
	return fmt.Sprintf("approved in advance: revision %s still waits for its upstreams (%s), then for its checks; `kubectl understudy status %s -w` follows it",
		rev, waitsFor(st.Promotion), name)
}

// waitsFor lists the upstreams that do not qualify the waiting revision.
func waitsFor(pr *v1.PromotionStatus) string {
	var why []string
	for _, u := range pr.Upstreams {
		if !u.Qualified {
			msg := u.Namespace + "/" + u.Name
			if u.Message != "" {
				msg = u.Message
			}
			why = append(why, msg)
		}
	}
	if len(why) == 0 {
		return "status.promotion"
	}
	return strings.Join(why, "; ")
}

func phaseOf(st *v1.SiteDeploymentStatus) string {
	if st.Phase == "" {
		return "unknown"
	}
	return string(st.Phase)
}

// Verdict is whether a wait for a SiteDeployment is over.
type Verdict int

const (
	// Waiting: a release is in flight or the spec is not yet observed.
	Waiting Verdict = iota
	// Healthy: the spec is realised.
	Healthy
	// Failed: Degraded, Aborted or Stalled.
	Failed
)

// Judge decides a wait from the object, with the same order as the Argo CD
// health check: a Stalled condition of this generation wins, then a
// lagging observedGeneration waits, then the phase.
func Judge(site *v1.SiteDeployment) (Verdict, string) {
	st := &site.Status
	for _, c := range st.Conditions {
		if c.Type == v1.ConditionStalled && c.Status == "True" && c.ObservedGeneration >= site.Generation {
			return Failed, messageOr(st.Message, c.Message)
		}
	}
	if st.ObservedGeneration < site.Generation {
		return Waiting, fmt.Sprintf("waiting for the controller to observe generation %d", site.Generation)
	}
	switch st.Phase {
	case v1.PhaseHealthy:
		return Healthy, st.Message
	case v1.PhaseDegraded, v1.PhaseAborted:
		return Failed, fmt.Sprintf("%s: %s", st.Phase, st.Message)
	}
	return Waiting, fmt.Sprintf("%s: %s", phaseOf(st), st.Message)
}

func messageOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
