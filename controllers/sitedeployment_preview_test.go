package controllers_test

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// mailOffOnPreview: outgoing mail off until the candidate takes traffic.
func mailOffOnPreview(sd *v1.SiteDeployment) {
	sd.Spec.Strategy.Preview = &v1.PreviewSettings{Env: []corev1.EnvVar{{Name: "MAIL_ENABLED", Value: "false"}},
		Annotations: map[string]string{"example.com/outgoing-mail": "off"}}
}

// mailEnv is the MAIL_ENABLED values of a Deployment's container.
func mailEnv(d *appsv1.Deployment) []string {
	var out []string
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "MAIL_ENABLED" {
			out = append(out, e.Value)
		}
	}
	return out
}

// The preview pod runs with MAIL_ENABLED=false and the preview annotation;
// the scale-up drops both, on the checked digest and the same revision,
// and the switch goes to pods without them.
func TestSiteDeploymentPreviewOnlySettings(t *testing.T) {
	s, _ := healthySite(t, previewOne, mailOffOnPreview)
	if got := mailEnv(s.deployment(v1.Blue)); len(got) != 0 {
		t.Fatalf("the first revision runs MAIL_ENABLED=%v: it takes traffic at once", got)
	}
	s.release("shop:2")
	r2 := s.revision()
	eventually(t, "the preview pod runs with outgoing mail off", func() error {
		d := s.deployment(v1.Green)
		if d == nil {
			return fmt.Errorf("no green deployment")
		}
		if got := mailEnv(d); len(got) != 1 || got[0] != "false" || d.Spec.Template.Annotations["example.com/outgoing-mail"] != "off" ||
			d.Spec.Template.Annotations[v1.AnnotationPreviewSettings] == "" || d.Spec.Template.Labels[v1.LabelRevision] != r2 {
			return fmt.Errorf("green: MAIL_ENABLED=%v, template %+v", got, d.Spec.Template.ObjectMeta)
		}
		return nil
	})
	s.runPod("shop-green-a", v1.Green, r2, "shop:2", sha('a'))
	s.available(v1.Green, r2, 1)
	eventually(t, "the scale-up without the preview settings, on the checked digest", func() error {
		d := s.deployment(v1.Green)
		if got := mailEnv(d); len(got) != 0 || len(d.Spec.Template.Annotations) != 0 || d.Spec.Template.Labels[v1.LabelRevision] != r2 ||
			d.Spec.Template.Spec.Containers[0].Image != "shop:2@"+sha('a') || *d.Spec.Replicas != 2 {
			return fmt.Errorf("green: %d x %s, MAIL_ENABLED=%v, annotations %v", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image,
				got, d.Spec.Template.Annotations)
		}
		return nil
	})
	if sd := s.get(); sd.Status.ActiveRevision == r2 || sd.Status.PreviewRevision != r2 {
		t.Fatalf("status: active %s, preview %s", sd.Status.ActiveRevision, sd.Status.PreviewRevision)
	}
	// The rollout's pods are Ready while the preview pod still runs: the
	// active selector names the revision, so the switch waits for it to go.
	s.runPod("shop-green-b", v1.Green, r2, "shop:2", sha('a'))
	s.runPod("shop-green-c", v1.Green, r2, "shop:2", sha('a'))
	s.available(v1.Green, r2, 2)
	consistently(t, "no switch while the preview pod runs", time.Second, func() error {
		if sd := s.get(); sd.Status.ActiveColor != v1.Blue {
			return fmt.Errorf("switched to %s with the preview pod still Ready", sd.Status.ActiveColor)
		}
		return nil
	})
	s.deletePod("shop-green-a")
	sd := s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if h := sd.Status.History[0]; h.Revision != r2 || len(h.Digests) != 1 || h.Digests[0].Digest != sha('a') {
		t.Fatalf("history[0] %+v", h)
	}
}
