package bluegreen

import (
	"strings"
	"testing"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A candidate's tags resolved at the registry before its first pod: it
// starts on image@digest, is checked on those pods, and the scale-up only
// adds pods to the same template; a tag pushed again meanwhile changes
// nothing.
func TestACandidateStartsOnTheDigestsTheRegistryResolved(t *testing.T) {
	w := newWorld(t, manualSite, previewOf(1))
	w.healthyOn("shop:1")
	w.registry = map[string]string{"shop:2": digest('c')}
	w.release("shop:2")
	w.reconcile()
	if got := w.image(v1.Green); got != "shop:2@"+digest('c') || w.replicas(v1.Green) != 1 {
		t.Fatalf("the candidate starts as %d x %s, want 1 x shop:2@%s", w.replicas(v1.Green), got, digest('c'))
	}
	st := w.site.Status
	if st.PreviewDigestsFrom != v1.DigestsFromRegistry || len(st.PreviewDigests) != 1 || st.PreviewDigests[0].Digest != digest('c') {
		t.Fatalf("status: from %q, digests %v", st.PreviewDigestsFrom, st.PreviewDigests)
	}
	w.registry["shop:2"] = digest('d') // pushed again while the candidate is checked
	w.runDigests(v1.Green)
	template := w.deps[v1.Green].Spec.Template.DeepCopy()
	w.reconcile()
	w.finishJob(CheckJobName("shop", rev("shop:2"), PrePromotion), true)
	w.reconcile()
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	if w.replicas(v1.Green) != 3 || w.image(v1.Green) != template.Spec.Containers[0].Image {
		t.Fatalf("the scale-up runs %d x %s, want 3 x the template its checked pod runs", w.replicas(v1.Green), w.image(v1.Green))
	}
	w.runPods(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if h := w.site.Status.History[0]; len(h.Digests) != 1 || h.Digests[0].Digest != digest('c') {
		t.Fatalf("history[0] %+v, want the resolved digest %s", h, digest('c'))
	}
}

// A registry that cannot be asked: the candidate starts on its tags, a
// warning says why, and its digests come from its Ready pods as before.
func TestARegistryThatCannotBeAskedFallsBackToThePods(t *testing.T) {
	w := newWorld(t, manualSite, previewOf(1))
	w.healthyOn("shop:1")
	w.registryDown = true
	w.release("shop:2")
	p := w.reconcile()
	if w.image(v1.Green) != "shop:2" || w.site.Status.PreviewDigestsFrom != v1.DigestsFromPods {
		t.Fatalf("green runs %s, digests from %q; want the tag, from the pods", w.image(v1.Green), w.site.Status.PreviewDigestsFrom)
	}
	if !hasEvent(p, v1.EventDigestsFromPods, "connection refused") {
		t.Fatalf("events %+v, want DigestsFromPods saying why", p.Events)
	}
	w.runDigests(v1.Green, digest('a'))
	w.reconcile()
	if got := w.site.Status.PreviewDigests; len(got) != 1 || got[0].Digest != digest('a') {
		t.Fatalf("previewDigests %v, want the pods' digest", got)
	}
	p = w.reconcile()
	if hasEvent(p, v1.EventDigestsFromPods, "") {
		t.Fatal("the warning is repeated on every reconcile")
	}
}

// Images named by digest and images the promotion gate pins are not asked
// for; a template with nothing to resolve asks nothing.
func TestOnlyTagsAreResolved(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.release("shop@" + digest('e'))
	in := Observed{Site: w.site.DeepCopy(), Deployments: w.deps, ActiveService: w.active, Templates: w.templates, Now: w.now}
	if p := Decide(in); p.Resolve != nil {
		t.Fatalf("asked to resolve %+v for an image named by digest", p.Resolve)
	}
	w.release("shop:3")
	in.Site = w.site.DeepCopy()
	p := Decide(in)
	if p.Resolve == nil || p.Resolve.Revision != rev("shop:3") || len(p.Resolve.Images) != 1 || p.Resolve.Images[0].Image != "shop:3" {
		t.Fatalf("resolve %+v, want shop:3", p.Resolve)
	}
}

func hasEvent(p Plan, reason, says string) bool {
	for _, e := range p.Events {
		if e.Reason == reason && strings.Contains(e.Note, says) {
			return true
		}
	}
	return false
}
