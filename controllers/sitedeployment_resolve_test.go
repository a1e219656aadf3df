package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/regtest"
)

// A candidate starts on the digest its tag resolves to at the registry
// (asked with the pull secret its pods use), from its first pod: the
// scale-up keeps that template, and history records the digest. The tag
// pushed again before production takes the release changes nothing there:
// production, gated on dev, starts on what dev served.
func TestSiteDeploymentStartsOnTheRegistryDigest(t *testing.T) {
	reg := regtest.Start(t, "puller", "s3cret")
	img, d1 := reg.Push(t, "shop", "2")
	dev, _ := healthySite(t, previewOne)
	if err := k8sClient.Create(context.Background(), reg.PullSecret(dev.ns, "pull")); err != nil {
		t.Fatal(err)
	}
	dev.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template.Spec.Containers[0].Image = img
		sd.Spec.Template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
	})
	r2 := dev.revision()
	eventually(t, "green created on the resolved digest", func() error {
		d := dev.deployment(v1.Green)
		if d == nil {
			return fmt.Errorf("no green deployment")
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != img+"@"+d1 {
			t.Fatalf("green was created running %s, want %s@%s", got, img, d1)
		}
		return nil
	})
	st := dev.get().Status
	if st.PreviewDigestsFrom != v1.DigestsFromRegistry || len(st.PreviewDigests) != 1 || st.PreviewDigests[0].Digest != d1 {
		t.Fatalf("status: digests %v from %q", st.PreviewDigests, st.PreviewDigestsFrom)
	}
	_, d2 := reg.Push(t, "shop", "2") // pushed again while dev checks it
	dev.runPod("shop-green-a", v1.Green, r2, img+"@"+d1, d1)
	dev.available(v1.Green, r2, 1)
	dev.waitReplicas(v1.Green, 2)
	if got := dev.deployment(v1.Green).Spec.Template.Spec.Containers[0].Image; got != img+"@"+d1 {
		t.Fatalf("the scale-up runs %s: its template must stay the checked one", got)
	}
	dev.available(v1.Green, r2, 2)
	sd := dev.waitActive(v1.PhaseHealthy, v1.Green, r2)
	if h := sd.Status.History[0]; len(h.Digests) != 1 || h.Digests[0].Digest != d1 {
		t.Fatalf("history[0] %+v, want %s", h, d1)
	}

	prod, _ := healthySite(t, gatedOn(dev.ns, 0))
	if err := k8sClient.Create(context.Background(), reg.PullSecret(prod.ns, "pull")); err != nil {
		t.Fatal(err)
	}
	prod.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template.Spec.Containers[0].Image = img
		sd.Spec.Template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
	})
	eventually(t, "prod's candidate on dev's digest", func() error {
		d := prod.deployment(v1.Green)
		if d == nil {
			return fmt.Errorf("no green deployment")
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != img+"@"+d1 {
			t.Fatalf("prod's candidate runs %s; dev served %s (the tag now says %s)", got, d1, d2)
		}
		return nil
	})
}

// A registry that refuses the manager (no pull secret for it): the
// candidate starts on its tag, a warning says why, and the digests come
// from its pods.
func TestSiteDeploymentWithoutRegistryAccessPinsFromThePods(t *testing.T) {
	reg := regtest.Start(t, "puller", "s3cret")
	img, _ := reg.Push(t, "shop", "2")
	s, _ := healthySite(t)
	s.release(img)
	e := s.eventWith(v1.EventDigestsFromPods)
	if !strings.Contains(e.Note, "401 Unauthorized") || e.Type != corev1.EventTypeWarning {
		t.Fatalf("event %s %q: want a warning quoting the registry's refusal", e.Type, e.Note)
	}
	if got := s.deployment(v1.Green).Spec.Template.Spec.Containers[0].Image; got != img {
		t.Fatalf("green runs %s, want the tag", got)
	}
	if st := s.get().Status; st.PreviewDigestsFrom != v1.DigestsFromPods {
		t.Fatalf("previewDigestsFrom %q", st.PreviewDigestsFrom)
	}
}

// The switch fires when the candidate's pods are Ready, before the
// Deployment reports them available; while one is not Ready it waits.
func TestSiteDeploymentSwitchesOnPodReadiness(t *testing.T) {
	s, r1 := healthySite(t)
	s.release("shop:2")
	r2 := s.revision()
	s.waitReplicas(v1.Green, 2)
	s.runPod("shop-green-a", v1.Green, r2, "shop:2", sha('a'))
	consistently(t, "traffic stays on blue while a pod is not Ready", time.Second, func() error {
		if st := s.get().Status; st.ActiveRevision != r1 {
			return fmt.Errorf("switched to %s", st.ActiveRevision)
		}
		return nil
	})
	s.runPodWith("shop-green-b", s.podTemplate(v1.Green), "registry.example/shop:2@"+sha('a'), false)
	consistently(t, "traffic stays on blue while a pod is running but not Ready", time.Second, func() error {
		if st := s.get().Status; st.ActiveRevision != r1 {
			return fmt.Errorf("switched to %s", st.ActiveRevision)
		}
		return nil
	})
	s.notReady("shop-green-a")
	consistently(t, "traffic stays on blue while a Ready pod turned not Ready", time.Second, func() error {
		if st := s.get().Status; st.ActiveRevision != r1 {
			return fmt.Errorf("switched to %s", st.ActiveRevision)
		}
		return nil
	})
	s.runPod("shop-green-c", v1.Green, r2, "shop:2", sha('a'))
	s.runPod("shop-green-d", v1.Green, r2, "shop:2", sha('a'))
	eventually(t, "switched on the pods", func() error {
		if st := s.get().Status; st.ActiveRevision != r2 {
			return fmt.Errorf("active %s (%s)", st.ActiveRevision, st.Message)
		}
		return nil
	})
	if d := s.deployment(v1.Green); d.Status.AvailableReplicas != 0 {
		t.Fatalf("the test must not play kube-controller-manager: %+v", d.Status)
	}
}

// podTemplate is the template of the color's Deployment.
func (s *site) podTemplate(c v1.Color) *corev1.PodTemplateSpec {
	s.t.Helper()
	d := s.deployment(c)
	if d == nil {
		s.t.Fatalf("no %s deployment", c)
	}
	return &d.Spec.Template
}

// notReady plays the kubelet: the pod's readiness probe fails.
func (s *site) notReady(name string) {
	s.t.Helper()
	pod := &corev1.Pod{}
	if err := k8sClient.Get(context.Background(), s.key(name), pod); err != nil {
		s.t.Fatal(err)
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	if err := k8sClient.Status().Update(context.Background(), pod); err != nil {
		s.t.Fatal(err)
	}
}
