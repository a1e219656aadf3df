//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// crClient is a controller-runtime client for the operator's kinds; it reads
// straight from the API server (no cache), as the tests' waits need.
func crClient(t testing.TB) client.Client {
	t.Helper()
	quietClientLog.Do(func() { ctrllog.SetLogger(logr.Discard()) })
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := deployv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var quietClientLog sync.Once

// demoSite is a SiteDeployment of demo-site answering VERSION=version, with
// a readiness probe, a short soak and a short scale-down delay.
func demoSite(ns, name, version string, replicas int32) *deployv1alpha1.SiteDeployment {
	return &deployv1alpha1.SiteDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: deployv1alpha1.SiteDeploymentSpec{
			Replicas: ptr.To(replicas),
			Template: demoTemplate(name, version),
			Service: deployv1alpha1.ServiceSpec{Ports: []deployv1alpha1.ServicePort{
				{Name: "http", Port: 80, TargetPort: ptr.To(intstr.FromString("http"))}}},
			Strategy: deployv1alpha1.StrategySpec{
				AutoPromote:      ptr.To(true),
				AutoPromoteAfter: &metav1.Duration{Duration: 2 * time.Second},
				ScaleDownDelay:   &metav1.Duration{Duration: 20 * time.Second},
				ProgressDeadline: &metav1.Duration{Duration: 2 * time.Minute},
			},
		},
	}
}

func demoTemplate(app, version string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			Containers: []corev1.Container{{
				Name: "web", Image: "local/demo-site",
				Env:   []corev1.EnvVar{{Name: "VERSION", Value: version}},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
			}},
		},
	}
}

// getSite reads a SiteDeployment, failing the test on error.
func getSite(t testing.TB, c client.Client, ns, name string) *deployv1alpha1.SiteDeployment {
	t.Helper()
	sd := &deployv1alpha1.SiteDeployment{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sd); err != nil {
		t.Fatal(err)
	}
	return sd
}

// setTemplate replaces the SiteDeployment's template (a new release),
// retrying on conflicts with the controller's status writes.
func setTemplate(t testing.TB, c client.Client, ns, name string, mutate func(*deployv1alpha1.SiteDeployment)) {
	t.Helper()
	Eventually(t, 10*time.Second, "update of "+name, func() (bool, error) {
		sd := getSite(t, c, ns, name)
		mutate(sd)
		err := c.Update(context.Background(), sd)
		return err == nil, err
	})
}

// waitHealthy waits for phase Healthy with the active revision equal to the
// current one and every replica ready; it returns the status.
func waitHealthy(t testing.TB, c client.Client, ns, name string, timeout time.Duration) *deployv1alpha1.SiteDeployment {
	t.Helper()
	var sd *deployv1alpha1.SiteDeployment
	Eventually(t, timeout, name+" Healthy", func() (bool, error) {
		sd = getSite(t, c, ns, name)
		st := sd.Status
		ok := st.Phase == deployv1alpha1.PhaseHealthy && st.ActiveRevision != "" &&
			st.ActiveRevision == st.CurrentRevision && st.ReadyReplicas == ptr.Deref(sd.Spec.Replicas, 1)
		return ok, fmt.Errorf("phase %s active %s current %s ready %s (%s)",
			st.Phase, st.ActiveRevision, st.CurrentRevision, st.Ready, st.Message)
	})
	return sd
}

// waitSwitch waits until status.activeRevision leaves from and the active
// Service's selector names the new revision; it returns the new revision and
// when the switch was seen.
func waitSwitch(t testing.TB, c client.Client, ns, name, from string, timeout time.Duration) (string, time.Time) {
	t.Helper()
	var rev string
	Eventually(t, timeout, name+" switching away from "+from, func() (bool, error) {
		st := getSite(t, c, ns, name).Status
		if st.ActiveRevision == "" || st.ActiveRevision == from {
			return false, fmt.Errorf("phase %s active %s preview %s (%s)", st.Phase, st.ActiveRevision, st.PreviewRevision, st.Message)
		}
		svc, err := env.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		rev = st.ActiveRevision
		return svc.Spec.Selector[revisionLabel] == rev, fmt.Errorf("selector %v, status active %s", svc.Spec.Selector, rev)
	})
	return rev, time.Now()
}

const revisionLabel = "deploy.understudy.dev/revision"

// kstatusOf computes the kstatus of an object of the operator's kinds.
func kstatusOf(t testing.TB, c client.Client, kind, ns, name string) status.Status {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(deployv1alpha1.GroupVersion.WithKind(kind))
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}
