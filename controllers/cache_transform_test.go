package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The transforms keep what the planner and the writes read, and drop the
// rest.
func TestCacheTransformsKeepWhatIsRead(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "shop-blue", Labels: map[string]string{v1.LabelSite: "shop"},
		Annotations:   map[string]string{"deployment.kubernetes.io/revision": "2"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kcm"}}}
	container := corev1.Container{Name: "web", Image: "shop:2@sha256:aa", Env: []corev1.EnvVar{{Name: "A", Value: "1"}}}
	d := &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2),
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{v1.LabelRevision: "r2"}},
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{container}, Containers: []corev1.Container{container},
				Volumes: []corev1.Volume{{Name: "cache"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Message: "long"}}}}
	got, err := slimDeployment(d.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	want := d.DeepCopy()
	want.ManagedFields, want.Status.Conditions = nil, nil
	slim := corev1.Container{Name: "web", Image: "shop:2@sha256:aa"}
	want.Spec.Template.Spec = corev1.PodSpec{InitContainers: []corev1.Container{slim}, Containers: []corev1.Container{slim}}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("slimDeployment = %+v\nwant %+v", got, want)
	}

	svc := &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP,
		Selector: map[string]string{v1.LabelColor: "blue"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}},
		ClusterIP: "127.0.0.9", ClusterIPs: []string{"127.0.0.9"}, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}}}
	gotSvc, err := slimService(svc.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	wantSvc := &corev1.Service{ObjectMeta: *meta.DeepCopy(), Spec: corev1.ServiceSpec{Type: svc.Spec.Type, Selector: svc.Spec.Selector, Ports: svc.Spec.Ports}}
	wantSvc.ManagedFields = nil
	if !equality.Semantic.DeepEqual(gotSvc, wantSvc) {
		t.Errorf("slimService = %+v\nwant %+v", gotSvc, wantSvc)
	}

	site := &v1.SiteDeployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: map[string]string{
		corev1.LastAppliedConfigAnnotation: `{"spec":{}}`, v1.AnnotationPromote: "r2"}}}
	gotSite, err := slimSite(site)
	if err != nil {
		t.Fatal(err)
	}
	if a := gotSite.(*v1.SiteDeployment).Annotations; len(a) != 1 || a[v1.AnnotationPromote] != "r2" {
		t.Errorf("slimSite kept annotations %v, want the promote annotation alone", a)
	}
	if got, _ := slimDeployment("tombstone"); got != "tombstone" {
		t.Errorf("slimDeployment changed a non-Deployment: %v", got)
	}
}
