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
