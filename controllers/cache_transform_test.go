package controllers

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/poddiag"
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
	want.ManagedFields, want.Annotations, want.Status.Conditions = nil, nil, nil
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

// Objects decoded apart share, once cached, the strings they repeat (label
// keys and values, owner references, condition reasons), and keep their
// values.
func TestCacheTransformsShareRepeatedStrings(t *testing.T) {
	// decoded gives each object its own copy of every string, as the
	// decoder does.
	decoded := func(s string) string { return string([]byte(s)) }
	owner := func() []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: decoded("deploy.understudy.dev/v1alpha1"), Kind: decoded("SiteDeployment"),
			Name: decoded("shop"), UID: types.UID(decoded("0b1c"))}}
	}
	labels := func() map[string]string { return map[string]string{decoded(v1.LabelSite): decoded("shop")} }
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop-blue", Labels: labels(), OwnerReferences: owner()},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels()},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels()},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: decoded("web"), Image: decoded("shop:2")}}}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: labels(), OwnerReferences: owner()},
		Spec: corev1.ServiceSpec{Selector: labels()}}
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "shop-r2", Labels: labels(), OwnerReferences: owner()}}
	sites := []*v1.SiteDeployment{{}, {}}
	for _, s := range sites {
		s.Status.Conditions = []metav1.Condition{
			{Type: decoded("Ready"), Status: metav1.ConditionStatus(decoded("True")), Reason: decoded("Live"), Message: decoded("revision r2 serves traffic")},
			{Type: decoded("Degraded"), Status: metav1.ConditionStatus(decoded("False")), Reason: decoded("Live"), Message: decoded("revision r2 serves traffic")}}
		s.Status.History = []v1.RevisionRecord{{Revision: decoded("r2"), Images: []string{decoded("shop:2")}}}
	}
	for _, transform := range []struct {
		f   func(any) (any, error)
		obj any
	}{{slimDeployment, d}, {slimService, svc}, {internRevision, cr}, {slimSite, sites[0]}, {slimSite, sites[1]}} {
		if _, err := transform.f(transform.obj); err != nil {
			t.Fatal(err)
		}
	}

	if reflect.ValueOf(d.Labels).UnsafePointer() != reflect.ValueOf(d.Spec.Selector.MatchLabels).UnsafePointer() {
		t.Error("a Deployment's selector and labels saying the same are two maps")
	}
	siteValues := []string{d.Labels[v1.LabelSite], d.Spec.Selector.MatchLabels[v1.LabelSite], d.Spec.Template.Labels[v1.LabelSite],
		svc.Labels[v1.LabelSite], svc.Spec.Selector[v1.LabelSite], cr.Labels[v1.LabelSite],
		d.OwnerReferences[0].Name, svc.OwnerReferences[0].Name, cr.OwnerReferences[0].Name}
	for i, s := range siteValues {
		if s != "shop" {
			t.Fatalf("value %d = %q, want shop", i, s)
		}
		if unsafe.StringData(s) != unsafe.StringData(siteValues[0]) {
			t.Errorf("value %d of the site's name is a copy of its own, not shared", i)
		}
	}
	for k := range svc.Labels {
		for k2 := range cr.Labels {
			if unsafe.StringData(k) != unsafe.StringData(k2) {
				t.Errorf("label key %q is not shared between a Service and a revision", k)
			}
		}
	}
	if unsafe.StringData(string(d.OwnerReferences[0].UID)) != unsafe.StringData(string(cr.OwnerReferences[0].UID)) {
		t.Error("the owner's UID is not shared")
	}
	a, b := sites[0].Status.Conditions[0], sites[1].Status.Conditions[0]
	if a != b || unsafe.StringData(a.Reason) != unsafe.StringData(b.Reason) || unsafe.StringData(a.Type) != unsafe.StringData(b.Type) {
		t.Errorf("conditions %+v and %+v do not share their type and reason", a, b)
	}
	if m := sites[0].Status.Conditions[1].Message; m != a.Message || unsafe.StringData(m) != unsafe.StringData(a.Message) {
		t.Errorf("a site's conditions do not share their message %q", m)
	}
	h0, h1 := sites[0].Status.History[0], sites[1].Status.History[0]
	if h0.Images[0] != "shop:2" || unsafe.StringData(h0.Images[0]) != unsafe.StringData(h1.Images[0]) || unsafe.StringData(h0.Revision) != unsafe.StringData(h1.Revision) {
		t.Errorf("history records %+v and %+v do not share their revision and images", h0, h1)
	}
}

// The pod cache keeps what poddiag reads, what the switch reads (readiness,
// the template's marks, image IDs) and what finds a pod, and drops the rest
// (spec, IPs, other labels and annotations, owners).
func TestSlimPodKeepsWhatPoddiagAndTheSwitchRead(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	started := metav1.NewTime(now.Add(-time.Hour))
	long := strings.Repeat("x", 4000) + "\npanic: no DATABASE_URL"
	crashed := corev1.ContainerStatus{Name: "web", ImageID: "shop@sha256:aa", RestartCount: 4,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2, Message: long, StartedAt: started}}}
	unready := corev1.ContainerStatus{Name: "proxy", ImageID: "proxy@sha256:bb", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-green-7d9-x", Namespace: "prod", UID: "u1", ResourceVersion: "42",
			CreationTimestamp: started, Labels: map[string]string{v1.LabelSite: "shop", v1.LabelColor: "green", v1.LabelRevision: "r2",
				"app": "shop", "pod-template-hash": "7d9"},
			Annotations: map[string]string{"a": "b", v1.AnnotationPreviewSettings: "p1"}, OwnerReferences: []metav1.OwnerReference{{Name: "shop-green-7d9"}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "web", Image: "shop:2"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.7",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Message: "containers with unready status",
				LastTransitionTime: started},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
			InitContainerStatuses: []corev1.ContainerStatus{unready}, ContainerStatuses: []corev1.ContainerStatus{crashed, unready}},
	}
	got, err := slimPod(pod.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	slim := got.(*corev1.Pod)
	for _, p := range []*corev1.Pod{pod, slim} { // the init container's problem first
		p.Status.InitContainerStatuses = nil
	}
	want, _ := poddiag.Of(pod, now)
	if have, ok := poddiag.Of(slim, now); !ok || have != want || !strings.Contains(have.Detail, "panic: no DATABASE_URL") {
		t.Errorf("poddiag reads %q of the slim pod, %q of the whole one", have, want)
	}
	wantMeta := metav1.ObjectMeta{Name: pod.Name, Namespace: "prod", UID: "u1", ResourceVersion: "42", CreationTimestamp: started,
		Labels:      map[string]string{v1.LabelSite: "shop", v1.LabelColor: "green", v1.LabelRevision: "r2"},
		Annotations: map[string]string{v1.AnnotationPreviewSettings: "p1"}}
	wantReady := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: started}
	if !equality.Semantic.DeepEqual(slim.ObjectMeta, wantMeta) || !equality.Semantic.DeepEqual(slim.Spec, corev1.PodSpec{}) ||
		slim.Status.PodIP != "" || slim.Status.Phase != "" || len(slim.Status.Conditions) != 2 ||
		!equality.Semantic.DeepEqual(slim.Status.Conditions[0], wantReady) {
		t.Errorf("slimPod kept %+v", slim)
	}
	if cs := slim.Status.ContainerStatuses[0]; cs.ImageID != "shop@sha256:aa" || cs.LastTerminationState.Terminated.StartedAt != (metav1.Time{}) ||
		len(cs.LastTerminationState.Terminated.Message) > poddiag.MaxMessage+3 {
		t.Errorf("slimPod kept of a container %+v", cs)
	}
	if got, _ := slimPod("tombstone"); got != "tombstone" {
		t.Errorf("slimPod changed a non-Pod: %v", got)
	}
}
