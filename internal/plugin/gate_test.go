package plugin_test

import (
	"testing"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func awaitingUpstream() v1.SiteDeploymentStatus {
	return v1.SiteDeploymentStatus{Phase: v1.PhaseAwaitingUpstream, ActiveRevision: revA, CurrentRevision: revB,
		Message: "default/gate waits: dev/gate-dev runs ...", History: history(promoted(revA, v1.OutcomePromoted)),
		Promotion: &v1.PromotionStatus{Revision: revB, Upstreams: []v1.UpstreamStatus{{Namespace: "dev", Name: "gate-dev"}}}}
}

func TestSkipGateWritesTheWaitingRevision(t *testing.T) {
	site := newSite(t, "skip-ok", awaitingUpstream())
	if out, errOut, code := run(t, "skip-gate", site.Name); code != 0 || out != "sitedeployment skip-ok: skipping the promotion gate for revision "+revB+
		" ("+v1.AnnotationSkipPromotionGate+"="+revB+")\n" {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, errOut)
	}
	wantOnly(t, site, v1.AnnotationSkipPromotionGate, revB)
}

func TestSkipGateRefuses(t *testing.T) {
	site := newSite(t, "skip-refused", awaitingUpstream())
	if _, errOut, code := run(t, "skip-gate", site.Name, "--revision", revA); code != 1 ||
		errOut != "error: revision "+revA+" is not the one waiting for its upstreams in sitedeployment skip-refused: that is "+revB+"\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	wantOnly(t, site, "", "")
	steady := newSite(t, "skip-nothing", healthy())
	if _, errOut, code := run(t, "skip-gate", steady.Name); code != 1 ||
		errOut != "error: sitedeployment skip-nothing has no release waiting for its upstreams (phase Healthy)\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	wantOnly(t, steady, "", "")
}

// abort rejects the revision waiting for its upstreams: it never starts.
func TestAbortWritesTheWaitingRevision(t *testing.T) {
	site := newSite(t, "abort-waiting", awaitingUpstream())
	if _, errOut, code := run(t, "abort", site.Name); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	wantOnly(t, site, v1.AnnotationAbort, revB)
}

// promote while the release waits for its upstreams says so and names
// skip-gate; naming the waiting revision approves it in advance, and the
// answer says what it still waits for.
func TestPromoteWhileWaitingForUpstreams(t *testing.T) {
	site := newSite(t, "promote-waiting", awaitingUpstream())
	if _, errOut, code := run(t, "promote", site.Name); code != 1 || errOut != "error: sitedeployment promote-waiting has no candidate to approve: revision "+revB+
		" has not started, it waits for its upstreams (dev/gate-dev); `kubectl understudy skip-gate promote-waiting` starts it without them (a hotfix, recorded in history), "+
		"or `kubectl understudy promote promote-waiting --revision "+revB+"` approves it in advance (it still waits for its upstreams, then for its checks)\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	wantOnly(t, site, "", "")
	out, errOut, code := run(t, "promote", site.Name, "--revision", revB)
	if code != 0 || out != "sitedeployment promote-waiting: promoting revision "+revB+" ("+v1.AnnotationPromote+"="+revB+")\n"+
		"sitedeployment promote-waiting: approved in advance: revision "+revB+" still waits for its upstreams (dev/gate-dev), then for its checks; "+
		"`kubectl understudy status promote-waiting -w` follows it\n" {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, errOut)
	}
	wantOnly(t, site, v1.AnnotationPromote, revB)
}
