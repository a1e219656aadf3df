package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The manager caches only Services labelled with a site: one whose label a
// person removed is labelled again, and releases go on.
func TestSiteDeploymentRelabelsItsServiceAfterTheLabelIsRemoved(t *testing.T) {
	s, _ := healthySite(t)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: s.ns}}
	unlabel := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, v1.LabelSite)))
	if err := k8sClient.Patch(context.Background(), svc, unlabel); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the active Service labelled again", func() error {
		if err := k8sClient.Get(context.Background(), s.key("shop"), svc); err != nil {
			return err
		}
		if svc.Labels[v1.LabelSite] != "shop" {
			return fmt.Errorf("labels %v", svc.Labels)
		}
		return nil
	})
	s.release("shop:2")
	r2 := s.revision()
	s.available(v1.Green, r2, 2)
	s.waitActive(v1.PhaseHealthy, v1.Green, r2)
}

// A Service of the site's preview name that someone else made is left
// alone, even though the manager's cache (Services labelled with a site)
// never shows it.
func TestSiteDeploymentLeavesAServiceItDoesNotOwn(t *testing.T) {
	theirs := &corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "theirs"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}}
	s := newSite(t, "shop:1", func(sd *v1.SiteDeployment) {
		theirs.Name, theirs.Namespace = "shop-preview", sd.Namespace
		if err := k8sClient.Create(context.Background(), theirs); err != nil {
			t.Fatal(err)
		}
	})
	eventually(t, "blue's Deployment", func() error {
		if s.deployment(v1.Blue) == nil {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	consistently(t, "their Service untouched", 2*time.Second, func() error {
		svc := &corev1.Service{}
		if err := k8sClient.Get(context.Background(), s.key("shop-preview"), svc); err != nil {
			return err
		}
		if svc.Spec.Selector["app"] != "theirs" || len(svc.Spec.Selector) != 1 || len(svc.OwnerReferences) != 0 || svc.Spec.Ports[0].Port != 8080 {
			return fmt.Errorf("changed: %+v %v", svc.Spec, svc.OwnerReferences)
		}
		return nil
	})
}

// The manager caches a slim copy of its Deployments (their containers'
// names and images), yet writes whole templates: a color reused by a later
// release runs exactly that release's template, nothing left of the one it
// ran before, and pinning the checked digest keeps the rest of the
// container.
func TestSiteDeploymentWritesWholeTemplatesFromASlimCache(t *testing.T) {
	template := func(image, env string, volume bool) corev1.PodTemplateSpec {
		tmpl := podTemplate(image)
		c := &tmpl.Spec.Containers[0]
		c.Env = []corev1.EnvVar{{Name: env, Value: "1"}}
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
		if volume {
			tmpl.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
		}
		return tmpl
	}
	s, _ := healthySite(t, previewOne, func(sd *v1.SiteDeployment) { sd.Spec.Template = template("shop:1", "FIRST", true) })
	releaseOn := func(c v1.Color, image, env string, digest byte) string {
		t.Helper()
		s.update(func(sd *v1.SiteDeployment) { sd.Spec.Template = template(image, env, false) })
		rev := s.revision()
		s.waitReplicas(c, 1)
		s.runPod(fmt.Sprintf("shop-%s-%c", c, digest), c, rev, image, sha(digest))
		s.available(c, rev, 1)
		s.waitReplicas(c, 2)
		s.available(c, rev, 2)
		s.waitActive(v1.PhaseHealthy, c, rev)
		return rev
	}
	releaseOn(v1.Green, "shop:2", "SECOND", 'a')
	releaseOn(v1.Blue, "shop:3", "THIRD", 'b')
	spec := s.deployment(v1.Blue).Spec.Template.Spec
	c := spec.Containers[0]
	if c.Image != "shop:3@"+sha('b') {
		t.Errorf("blue runs %s, want the checked digest of shop:3", c.Image)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "THIRD" {
		t.Errorf("blue's env %v, want THIRD alone", c.Env)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("blue's ports %v, want 8080 kept by the pin", c.Ports)
	}
	if len(spec.Volumes) != 0 || len(c.VolumeMounts) != 0 {
		t.Errorf("blue still has the first release's volume: %v, mounts %v", spec.Volumes, c.VolumeMounts)
	}
}
