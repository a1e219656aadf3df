package bluegreen

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func withEnv(img string, env ...corev1.EnvVar) corev1.PodTemplateSpec {
	t := image(img)
	t.Spec.Containers[0].Env = env
	return t
}

func TestChangesTellTwoVersionsOfOneImageApart(t *testing.T) {
	secret := corev1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "shop-token"}, Key: "token"}}}
	v1t := withEnv("local/demo-site", corev1.EnvVar{Name: "VERSION", Value: "v1"}, corev1.EnvVar{Name: "OLD", Value: "x"})
	v2t := withEnv("local/demo-site", corev1.EnvVar{Name: "VERSION", Value: "v2"}, secret)
	got := Changes(&v1t, &v2t)
	want := []string{"web: env VERSION=v2 (was v1)", "web: env TOKEN=(Secret shop-token)", "web: env OLD removed"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes:\n got %q\nwant %q", got, want)
	}
	img := image("shop:2")
	if got := Changes(&v1t, &img); got[0] != "web: image shop:2 (was local/demo-site)" {
		t.Fatalf("image change: %q", got)
	}
	v2t.Annotations = map[string]string{annotationChangeCause: "fix the checkout total"}
	if got := Changes(&v1t, &v2t); !reflect.DeepEqual(got, []string{"fix the checkout total"}) {
		t.Fatalf("change-cause: %q", got)
	}
}

func TestHistoryRecordsWhatEachRevisionChanged(t *testing.T) {
	w := newWorld(t, func(s *v1.SiteDeployment) {
		s.Spec.Template = withEnv("local/demo-site", corev1.EnvVar{Name: "VERSION", Value: "v1"})
	})
	w.reconcile()
	w.available(v1.Blue)
	w.reconcile()
	w.site.Spec.Template = withEnv("local/demo-site", corev1.EnvVar{Name: "VERSION", Value: "v2"})
	w.reconcile()
	w.available(v1.Green)
	w.reconcile()
	h := w.site.Status.History
	if len(h) != 2 || !reflect.DeepEqual(h[0].Changes, []string{"web: env VERSION=v2 (was v1)"}) || h[1].Changes != nil {
		t.Fatalf("history: %+v", h)
	}
}
