package bluegreen

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// mailOffOnPreview is the seed's example: outgoing mail off until the
// candidate takes traffic.
func mailOffOnPreview(s *v1.SiteDeployment) {
	s.Spec.Strategy.Preview = &v1.PreviewSettings{
		Env:         []corev1.EnvVar{{Name: "MAIL_ENABLED", Value: "false"}},
		Annotations: map[string]string{"example.com/outgoing-mail": "off"},
	}
}

// envOf is the value of a variable in a color's template; "" when unset.
func (w *world) envOf(c v1.Color, name string) (value string, n int) {
	for _, e := range w.deps[c].Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			value, n = e.Value, n+1
		}
	}
	return value, n
}

// The candidate's preview pods run with MAIL_ENABLED=false (replacing the
// template's own value); the scale-up before the switch drops it, keeps
// the revision and the checked digest, and the switch goes to pods that
// run the template as written.
func TestPreviewSettingsOnlyBeforeTheSwitch(t *testing.T) {
	w := newWorld(t, manualSite, previewOf(1), mailOffOnPreview)
	w.site.Spec.Template = withEnv("shop:1", corev1.EnvVar{Name: "MAIL_ENABLED", Value: "true"})
	w.healthyOn("shop:1")
	r1 := w.site.Status.ActiveRevision
	if v, _ := w.envOf(v1.Blue, "MAIL_ENABLED"); v != "true" || inPreview(w.deps[v1.Blue]) {
		t.Fatalf("the first revision runs MAIL_ENABLED=%q with preview settings %v: it takes traffic at once", v, inPreview(w.deps[v1.Blue]))
	}
	w.site.Spec.Template = withEnv("shop:2", corev1.EnvVar{Name: "MAIL_ENABLED", Value: "true"})
	w.site.Generation++
	r2 := SiteRevision(&w.site.Spec)
	w.reconcile()
	if v, n := w.envOf(v1.Green, "MAIL_ENABLED"); v != "false" || n != 1 ||
		w.deps[v1.Green].Spec.Template.Annotations["example.com/outgoing-mail"] != "off" || revisionOf(w.deps[v1.Green]) != r2 {
		t.Fatalf("preview pods: MAIL_ENABLED=%q (%d times), annotations %v, revision %s; want false once, outgoing-mail off, %s",
			v, n, w.deps[v1.Green].Spec.Template.Annotations, revisionOf(w.deps[v1.Green]), r2)
	}
	w.available(v1.Green)
	w.runDigests(v1.Green, digest('a'))
	w.reconcile()
	w.finishJob(CheckJobName("shop", r2, PrePromotion), true)
	w.reconcile()
	w.expect(v1.PhaseAwaitingPromotion, v1.Blue, r1)
	if w.site.Status.PreviewRevision != r2 || w.site.Status.CurrentRevision != r2 {
		t.Fatalf("status: preview %s, current %s; want %s (preview settings are not part of the revision)",
			w.site.Status.PreviewRevision, w.site.Status.CurrentRevision, r2)
	}

	w.annotate(v1.AnnotationPromote, r2)
	w.reconcile()
	w.expect(v1.PhasePromoting, v1.Blue, r1)
	g := w.deps[v1.Green]
	if v, _ := w.envOf(v1.Green, "MAIL_ENABLED"); v != "true" || inPreview(g) || g.Spec.Template.Annotations["example.com/outgoing-mail"] != "" ||
		revisionOf(g) != r2 || w.image(v1.Green) != "shop:2@"+digest('a') || w.replicas(v1.Green) != 3 {
		t.Fatalf("scale-up: %d x %s, MAIL_ENABLED=%q, annotations %v, revision %s; want 3 x shop:2@%s as the template says, revision %s",
			w.replicas(v1.Green), w.image(v1.Green), v, g.Spec.Template.Annotations, revisionOf(g), digest('a'), r2)
	}
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, r2)
	if h := w.site.Status.History[0]; h.Revision != r2 || len(h.Digests) != 1 || h.Digests[0].Digest != digest('a') {
		t.Fatalf("history[0] %+v", h)
	}
}

// Without a smaller preview the candidate runs at full size with its
// preview settings; available, it is still not switched to: it restarts
// without them first, and only then takes traffic.
func TestAFullSizePreviewRestartsWithoutItsSettingsBeforeTheSwitch(t *testing.T) {
	w := newWorld(t, mailOffOnPreview)
	w.healthyOn("shop:1")
	w.releaseReady("shop:2")
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1"))
	if _, n := w.envOf(v1.Green, "MAIL_ENABLED"); n != 0 || inPreview(w.deps[v1.Green]) || w.replicas(v1.Green) != 3 {
		t.Fatalf("green after approval still runs its preview settings: %+v", w.deps[v1.Green].Spec.Template)
	}
	w.reconcile() // the Deployment controller has not rolled it out yet
	w.expect(v1.PhasePromoting, v1.Blue, rev("shop:1"))
	w.available(v1.Green)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Green, rev("shop:2"))
}

// A change of spec.strategy.preview while a candidate is at preview size
// restarts its preview pods on the same revision.
func TestPreviewSettingsFollowTheSpecOnTheSameRevision(t *testing.T) {
	w := newWorld(t, previewOf(1), manualSite, mailOffOnPreview)
	w.healthyOn("shop:1")
	w.release("shop:2")
	w.reconcile()
	before := w.deps[v1.Green].Generation
	w.site.Spec.Strategy.Preview.Env = []corev1.EnvVar{{Name: "PAYMENTS", Value: "sandbox"}}
	w.site.Generation++
	w.reconcile()
	if v, _ := w.envOf(v1.Green, "PAYMENTS"); v != "sandbox" || revisionOf(w.deps[v1.Green]) != rev("shop:2") || w.deps[v1.Green].Generation == before {
		t.Fatalf("green: PAYMENTS=%q, revision %s, generation %d (was %d)", v, revisionOf(w.deps[v1.Green]), w.deps[v1.Green].Generation, before)
	}
	if _, n := w.envOf(v1.Green, "MAIL_ENABLED"); n != 0 {
		t.Fatal("the preview pods keep a setting spec.strategy.preview no longer names")
	}
}
