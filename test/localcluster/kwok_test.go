package localcluster

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestKwokPlaysTheKubelet runs a Deployment on a kwok node: the real
// kube-controller-manager makes its ReplicaSet and pods, the scheduler
// places them, kwok marks them Ready with loopback pod IPs and, as a
// kubelet does, an imageID with a digest for every container.
func TestKwokPlaysTheKubelet(t *testing.T) {
	ctx := context.Background()
	c, err := Start(ctx, Options{Dir: t.TempDir() + "/cluster", ClientQPS: 500, ClientBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if err := c.StartKwokWith(ctx, 1, KwokOptions{ImageIDs: true}); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	labels := map[string]string{"app": "sim"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "sim", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "sim:1"}, {Name: "side", Image: pinnedSide}}}}},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	last := dep
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "sim", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		return d.Status.AvailableReplicas == 3, nil
	})
	if err != nil {
		t.Fatalf("Deployment not available on the kwok node: %+v\nkwok: %s\nkube-controller-manager: %s",
			last.Status, tail(c.LogPath("kwok")), tail(c.LogPath("kube-controller-manager")))
	}
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=sim"})
	if err != nil {
		t.Fatal(err)
	}
	loopback := netip.MustParsePrefix(kwokPodCIDR)
	for _, p := range pods.Items {
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if p.Spec.NodeName != "kwok-0" || p.Status.Phase != corev1.PodRunning || err != nil || !loopback.Contains(ip) {
			t.Errorf("pod %s on %q, phase %s, IP %q: want Running on kwok-0 with an IP in %s",
				p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.PodIP, loopback)
		}
		tagDigest := fmt.Sprintf("sim:1@sha256:%x", sha256.Sum256([]byte("sim:1")))
		ids := map[string]string{}
		for _, cs := range p.Status.ContainerStatuses {
			ids[cs.Name] = cs.ImageID
		}
		if ids["web"] != tagDigest || ids["side"] != pinnedSide {
			t.Errorf("pod %s reports imageIDs %v; want web %s and side %s", p.Name, ids, tagDigest, pinnedSide)
		}
	}
	c.Stop()
	if left := Leftovers(c.Marker); len(left) > 0 {
		t.Fatalf("processes left after Stop: %v", left)
	}
}

const pinnedSide = "side@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// tail is the end of a log file, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-1500):])
}
