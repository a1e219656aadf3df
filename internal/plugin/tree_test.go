package plugin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func TestGetShowsTheTree(t *testing.T) {
	ctx := context.Background()
	site := newSite(t, "tree", awaiting())
	cur := reread(t, site)
	cur.Status.ActiveColor, cur.Status.PreviewColor = v1.Blue, v1.Green
	since, until := metav1.NewTime(time.Now().Add(-3*time.Hour)), metav1.NewTime(time.Now().Add(-time.Hour))
	cur.Status.Promotion = &v1.PromotionStatus{Revision: revB, Upstreams: []v1.UpstreamStatus{{Namespace: "dev", Name: "tree-dev",
		Revision: revA, Images: []string{"registry.example/web:" + revA + "@sha256:abababababab"}, Message: "dev/tree-dev runs ..."}, {
		Namespace: "staging", Name: "tree-staging", Revision: revB, Images: []string{"registry.example/web:" + revB + "@sha256:cdcdcdcdcdcd"},
		LiveSince: &since, LiveUntil: &until, Qualified: true, Message: "staging/tree-staging served registry.example/web:" + revB + " ..."}}}
	if err := env.Client.Status().Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	for color, rev := range map[v1.Color]string{v1.Blue: revA, v1.Green: revB} {
		labels := map[string]string{v1.LabelSite: site.Name, v1.LabelColor: string(color), v1.LabelRevision: rev}
		two := int32(2)
		d := &appsv1.Deployment{
			// As the controller writes them: the revision only on the pod template.
			ObjectMeta: metav1.ObjectMeta{Name: site.Name + "-" + string(color), Namespace: "default",
				Labels: map[string]string{v1.LabelSite: site.Name, v1.LabelColor: string(color)}},
			Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:" + rev}}}}},
		}
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, d) })
		// The Deployment counts the pods of both revisions while the
		// candidate replaces the one the color ran before.
		d.Status = appsv1.DeploymentStatus{Replicas: 2, AvailableReplicas: 1, ReadyReplicas: 1}
		if err := env.Client.Status().Update(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	crashed := corev1.ContainerStatus{Name: "web", State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container=web"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2, Message: "panic: no DATABASE_URL"}}}
	for _, p := range []struct {
		name, color, rev string
		ready            bool
		status           []corev1.ContainerStatus
	}{
		{"tree-blue-a", "blue", revA, true, nil},
		{"tree-green-old", "green", revA, true, nil}, // the revision green ran before
		{"tree-green-new", "green", revB, false, []corev1.ContainerStatus{crashed}},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "default",
			Labels: map[string]string{v1.LabelSite: site.Name, v1.LabelColor: p.color, v1.LabelRevision: p.rev}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:" + p.rev}}}}
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, pod) })
		ready := corev1.ConditionFalse
		if p.ready {
			ready = corev1.ConditionTrue
		}
		pod.Status = corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}, ContainerStatuses: p.status}
		if err := env.Client.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: site.Name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}},
			Selector: map[string]string{v1.LabelSite: site.Name, v1.LabelColor: "blue", v1.LabelRevision: revA}}}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, svc) })
	out, errOut, code := run(t, "get", "sdep", site.Name)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"SiteDeployment default/tree  AwaitingPromotion",
		"├── blue  revision " + revA + "  1/2 ready  active",
		"├── green  revision " + revB + "  0/2 ready  preview",
		"│   not ready: pod tree-green-new: container web cannot start: CrashLoopBackOff: back-off 10s restarting failed container=web; " +
			"last ended (Error, exit code 2): panic: no DATABASE_URL",
		"│   images: registry.example/web:" + revB,
		"├── Service tree  selects deploy.understudy.dev/color=blue deploy.understudy.dev/revision=" + revA,
		"├── promotion gate for " + revB + ": waiting",
		"│   upstream dev/tree-dev  revision " + revA + "  registry.example/web:" + revA + "@sha256:abababababab  live since -  does not qualify",
		"│     dev/tree-dev runs ...",
		"│   upstream staging/tree-staging  revision " + revB + "  registry.example/web:" + revB + "@sha256:cdcdcdcdcdcd  served from 3h0m",
		"s ago until 1h0m",
		"s ago  qualifies",
		"│     staging/tree-staging served registry.example/web:" + revB + " ...",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tree lacks %q:\n%s", want, out)
		}
	}
	if _, errOut, code := run(t, "get", "sdep", "nope"); code != 1 || errOut != "error: sitedeployment nope not found in namespace default\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
