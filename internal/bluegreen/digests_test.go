package bluegreen

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func digest(b byte) string { return "sha256:" + strings.Repeat(string(b), 64) }

// runDigests plays the kubelet from now on: the color's pods run its
// Deployment's template, Ready, a tag resolved to the given digests (pod i
// to digests[i%len]), an image named by digest to that digest.
func (w *world) runDigests(c v1.Color, digests ...string) {
	if w.pods == nil {
		w.pods, w.tagDigests = map[v1.Color][]PodImages{}, map[v1.Color][]string{}
	}
	w.tagDigests[c] = digests
	w.runPods(c)
}

// runPods makes the color's pods: one per replica (at least one per digest
// runDigests gave), all Ready on its Deployment's template.
func (w *world) runPods(c v1.Color) {
	d, digests := w.deps[c], w.tagDigests[c]
	w.pods[c] = nil
	for i := 0; i < max(int(*d.Spec.Replicas), len(digests)); i++ {
		ids := map[string]string{}
		for _, ct := range d.Spec.Template.Spec.Containers {
			switch {
			case strings.Contains(ct.Image, "@"):
				ids[ct.Name] = "registry.example/" + ct.Image
			case len(digests) > 0:
				ids[ct.Name] = "registry.example/" + ct.Image + "@" + digests[i%len(digests)]
			}
		}
		w.pods[c] = append(w.pods[c], PodImages{Name: fmt.Sprintf("shop-%s-%d", c, i), Revision: revisionOf(d), Ready: true,
			Preview: PreviewOf(&d.Spec.Template), RestartedAt: d.Spec.Template.Annotations[v1.AnnotationRestartedAt], ImageIDs: ids})
	}
}

// podsReady: the color's pods, as the planner saw them, were all Ready on
// d's template, and none of its revision ran another (the safety invariant
// when the sim plays the kubelet).
func (w *world) podsReady(c v1.Color, d *appsv1.Deployment) bool {
	p := &planner{now: w.now}
	return w.pods != nil && p.readyPods(w.pods[c], d, nil) >= w.site.Spec.DesiredReplicas() && !hasStrays(w.pods[c], d, nil)
}

// resolve answers a Plan.Resolve as the registry would.
func (w *world) resolve(r *ResolveRequest) *Resolution {
	if w.registryDown {
		return &Resolution{Revision: r.Revision, Err: "Get \"https://registry.example/v2/\": dial tcp: connection refused"}
	}
	out := &Resolution{Revision: r.Revision}
	for _, im := range r.Images {
		d, ok := w.registry[im.Image]
		if !ok {
			return &Resolution{Revision: r.Revision, Err: "MANIFEST_UNKNOWN: " + im.Image}
		}
		out.Pins = append(out.Pins, v1.PinnedImage{Container: im.Container, Image: im.Image, Digest: d})
	}
	return out
}

func (w *world) image(c v1.Color) string { return w.deps[c].Spec.Template.Spec.Containers[0].Image }

func previewOf(n int32) func(*v1.SiteDeployment) {
	return func(s *v1.SiteDeployment) { s.Spec.Strategy.PreviewReplicas = ptr.To(n) }
}

// A candidate checked at preview size on one digest is scaled up on that
// digest, switched to on it, and history keeps it, whatever the tag says by
// then.
func TestTheCheckedDigestIsWhatTakesTraffic(t *testing.T) {
	w := newWorld(t, manualSite, previewOf(1))
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green)
	w.runDigests(v1.Green, digest('a'))
	w.reconcile()
	want := []v1.PinnedImage{{Container: "web", Image: "shop:2", Digest: digest('a')}}
	if got := w.site.Status.PreviewDigests; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("status.previewDigests %v, want %v", got, want)
	}
	if w.image(v1.Green) != "shop:2" {
		t.Fatalf("the preview runs %s: it must resolve the tag itself", w.image(v1.Green))
	}
	w.finishJob(CheckJobName("shop", rev("shop:2"), PrePromotion), true)
	w.reconcile()
	w.annotate(v1.AnnotationPromote, rev("shop:2"))
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1"))
	if got := w.image(v1.Green); got != "shop:2@"+digest('a') || w.replicas(v1.Green) != 3 {
		t.Fatalf("the scale-up runs %d x %s, want 3 x shop:2@%s", w.replicas(v1.Green), got, digest('a'))
	}
	if !strings.Contains(w.site.Status.Message, "on the digests its preview pods were checked on") {
		t.Fatalf("message: %s", w.site.Status.Message)
	}
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if h := w.site.Status.History[0]; h.Revision != rev("shop:2") || len(h.Digests) != 1 || h.Digests[0] != want[0] {
		t.Fatalf("history[0] %+v, want shop:2 with digest %s", h, digest('a'))
	}
	if len(w.site.Status.PreviewDigests) != 0 {
		t.Fatalf("previewDigests left after the switch: %v", w.site.Status.PreviewDigests)
	}
}

// Without a smaller preview and without an answer from the registry, a
// candidate whose pods all run the digests recorded from them switches
// without being rolled again (pinnedInTemplate): its checked pods are the
// pods that take traffic, and history keeps their digests.
func TestAFullSizePreviewOnItsDigestsIsNotRolledAgain(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green)
	w.runDigests(v1.Green, digest('a'), digest('a'), digest('a'))
	generation := w.deps[v1.Green].Generation
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if got := w.image(v1.Green); got != "shop:2" || w.deps[v1.Green].Generation != generation {
		t.Fatalf("green runs %s (generation %d, was %d): its checked pods must take traffic as they are", got, w.deps[v1.Green].Generation, generation)
	}
	if h := w.site.Status.History[0]; len(h.Digests) != 1 || h.Digests[0].Digest != digest('a') {
		t.Fatalf("history[0] %+v, want the digest its pods ran", h)
	}
}

// Preview pods that resolved one tag to two digests hold the release, with
// a condition that says so, until they agree.
func TestPreviewPodsOnTwoDigestsHoldTheRelease(t *testing.T) {
	w := newWorld(t, previewOf(2))
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	w.available(v1.Green)
	w.runDigests(v1.Green, digest('a'), digest('b'))
	for i := 0; i < 2; i++ {
		w.advance(time.Minute)
		w.reconcile()
	}
	w.expect(v1.PhaseProgressing, v1.Blue, rev("shop:1"))
	c := meta.FindStatusCondition(w.site.Status.Conditions, v1.ConditionReady)
	if c == nil || c.Reason != v1.ReasonImageDigestMismatch || !strings.Contains(c.Message, "sha256:aaaaaaaaaaaa on shop-green-0") ||
		!strings.Contains(c.Message, "sha256:bbbbbbbbbbbb on shop-green-1") {
		t.Fatalf("Ready condition %+v, want ImageDigestMismatch naming both digests", c)
	}
	if w.replicas(v1.Green) != 2 || len(w.site.Status.PreviewDigests) != 0 {
		t.Fatalf("green at %d, digests %v: the release must hold at preview size", w.replicas(v1.Green), w.site.Status.PreviewDigests)
	}
	w.runDigests(v1.Green, digest('b'), digest('b')) // the preview pods were restarted
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
	if got := w.image(v1.Green); got != "shop:2@"+digest('b') {
		t.Fatalf("green runs %s", got)
	}
}

// A rollback to a revision whose Deployment is gone starts it again on the
// digests it ran when it took traffic, not on whatever its tag says now.
func TestARollbackRestartsTheRecordedDigests(t *testing.T) {
	w := newWorld(t)
	w.healthyOn("shop:1")
	for i, img := range []string{"shop:2", "shop:3"} {
		w.release(img)
		w.reconcile()
		idle := w.site.Status.ActiveColor.Other()
		w.available(idle)
		w.runDigests(idle, digest(byte('a'+i)), digest(byte('a'+i)), digest(byte('a'+i)))
		w.reconcile()
		w.available(idle)
		w.reconcile()
		w.expect(v1.PhaseHealthy, idle, rev(img))
		w.advance(11 * time.Minute) // past scaleDownDelay: the old color goes
		w.reconcile()
	}
	// shop:2 ran on green with digest a; blue now runs shop:3.
	if w.replicas(v1.Green) != 0 {
		t.Fatalf("green at %d, want scaled down", w.replicas(v1.Green))
	}
	delete(w.deps, v1.Green) // someone deleted it: it comes back from the stored template, which names the tag
	w.annotate(v1.AnnotationAbort, rev("shop:3"))
	w.reconcile()
	if got := w.image(v1.Green); got != "shop:2@"+digest('a') || w.replicas(v1.Green) != 3 {
		t.Fatalf("the rollback starts %d x %s, want 3 x shop:2@%s", w.replicas(v1.Green), got, digest('a'))
	}
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseAborted, v1.Green, rev("shop:2"))
}

func TestDigestOf(t *testing.T) {
	for id, want := range map[string]string{
		"registry.example/shop@" + digest('a'):                   digest('a'),
		"docker-pullable://registry.example/shop@" + digest('b'): digest('b'),
		digest('c'):         "", // an image config ID is not pullable by digest
		"local://shop:2":    "",
		"shop@sha256:short": "",
	} {
		if got := digestOf(id); got != want {
			t.Errorf("digestOf(%q) = %q, want %q", id, got, want)
		}
	}
}
