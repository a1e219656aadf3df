package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func sha(b byte) string { return "sha256:" + strings.Repeat(string(b), 64) }

// runPod plays the kubelet: a Ready pod of the color and revision whose
// container resolved image to digest.
func (s *site) runPod(name string, c v1.Color, rev, image, digest string) {
	s.t.Helper()
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}
	if d := s.deployment(c); d != nil { // its template's marks (preview settings, restart)
		tmpl.Annotations = d.Spec.Template.Annotations
	}
	tmpl.Labels = map[string]string{v1.LabelSite: s.name, v1.LabelColor: string(c), v1.LabelRevision: rev}
	s.runPodWith(name, tmpl, "registry.example/"+image+"@"+digest, true)
}

// runPodWith plays the kubelet: a pod of tmpl, Ready or not, whose first
// container reports imageID.
func (s *site) runPodWith(name string, tmpl *corev1.PodTemplateSpec, imageID string, ready bool) {
	s.t.Helper()
	pod := &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: *tmpl.Spec.DeepCopy()}
	pod.Name, pod.Namespace = name, s.ns
	if err := k8sClient.Create(context.Background(), pod); err != nil {
		s.t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, Ready: ready, ImageID: imageID}}}
	if ready {
		pod.Status.Conditions[0].Status = corev1.ConditionTrue
	}
	if err := k8sClient.Status().Update(context.Background(), pod); err != nil {
		s.t.Fatal(err)
	}
}

func previewOne(sd *v1.SiteDeployment) { sd.Spec.Strategy.PreviewReplicas = ptr.To[int32](1) }

// What the preview pod resolved is what the full-size scale-up runs and
// what history records, whatever the tag says later.
func TestSiteDeploymentPinsTheCheckedDigest(t *testing.T) {
	s, _ := healthySite(t, previewOne)
	s.release("shop:2")
	r2 := s.revision()
	s.waitReplicas(v1.Green, 1)
	s.runPod("shop-green-a", v1.Green, r2, "shop:2", sha('a'))
	s.available(v1.Green, r2, 1)
	eventually(t, "green scaled up on the checked digest", func() error {
		d := s.deployment(v1.Green)
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "shop:2@"+sha('a') || *d.Spec.Replicas != 2 {
			return fmt.Errorf("green runs %d x %s", *d.Spec.Replicas, got)
		}
		if got := s.get().Status.PreviewDigests; len(got) != 1 || got[0].Digest != sha('a') || got[0].Image != "shop:2" {
			return fmt.Errorf("status.previewDigests %v", got)
		}
		return nil
	})
	s.available(v1.Green, r2, 2)
	sd := s.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if h := sd.Status.History[0]; h.Revision != r2 || len(h.Digests) != 1 || h.Digests[0].Digest != sha('a') {
		t.Fatalf("history[0] %+v: want the digest beside the tag", h)
	}
	if sd.Status.CurrentRevision != r2 { // pinning makes no new revision
		t.Fatalf("currentRevision %s, want %s", sd.Status.CurrentRevision, r2)
	}
}

// Preview pods of one revision on two digests hold the release with a
// condition that names them.
func TestSiteDeploymentHoldsOnTwoDigests(t *testing.T) {
	s, r1 := healthySite(t, func(sd *v1.SiteDeployment) { sd.Spec.Strategy.PreviewReplicas = ptr.To[int32](2) })
	s.release("shop:2")
	r2 := s.revision()
	s.waitReplicas(v1.Green, 2)
	s.runPod("shop-green-a", v1.Green, r2, "shop:2", sha('a'))
	s.runPod("shop-green-b", v1.Green, r2, "shop:2", sha('b'))
	s.available(v1.Green, r2, 2)
	eventually(t, "the release held on the mismatch", func() error {
		sd := s.get()
		c := condition(sd, v1.ConditionReady)
		if c == nil || c.Reason != v1.ReasonImageDigestMismatch || !strings.Contains(c.Message, "shop-green-b") {
			return fmt.Errorf("phase %s, Ready %+v", sd.Status.Phase, c)
		}
		return nil
	})
	consistently(t, "traffic stays on blue at preview size", 2*time.Second, func() error {
		sd := s.get()
		if sd.Status.ActiveRevision != r1 || *s.deployment(v1.Green).Spec.Replicas != 2 ||
			s.deployment(v1.Green).Spec.Template.Spec.Containers[0].Image != "shop:2" {
			return fmt.Errorf("active %s, green %v", sd.Status.ActiveRevision, s.deployment(v1.Green).Spec.Template.Spec.Containers[0].Image)
		}
		return nil
	})
}

// deletePod plays a rollout removing a pod (no kubelet here: it is gone at once).
func (s *site) deletePod(name string) {
	s.t.Helper()
	if err := k8sClient.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}}); err != nil {
		s.t.Fatal(err)
	}
}
