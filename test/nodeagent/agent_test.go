package nodeagent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/understudy-dev/understudy/test/localcluster"
)

// TestPodSeesItsConfiguration runs one pod on a real control plane and checks
// what its process sees: env from values, a Secret, a ConfigMap and the
// downward API; configMap, secret, emptyDir and claim volumes at their mount
// paths; a restart under OnFailure; the exit code and message. Then it
// deletes a long-running pod (SIGTERM) and checks nothing is left behind.
func TestPodSeesItsConfiguration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A machine that is itself a Kubernetes pod already has the file; the
	// agent must then leave it, and otherwise remove what it created.
	_, statErr := os.Stat(corev1.TerminationMessagePathDefault)
	hostHadTermLog := statErr == nil
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	agent, err := New(c.RESTConfig(), Options{StateDir: filepath.Join(dir, "node"), Marker: c.Marker,
		MarkerEnv: localcluster.MarkerEnv, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	agentCtx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Run(agentCtx) }()
	defer func() { stopAgent(); <-agentDone }()

	ns := "default"
	check(t, errOf(cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{})))
	check(t, errOf(cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
		Data: map[string]string{"mode": "dev", "app.conf": "colour=green"}}, metav1.CreateOptions{})))
	check(t, errOf(cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}, metav1.CreateOptions{})))

	// First run: fails (exit 3) after leaving a mark on the claim; the
	// restart sees the mark and reports everything in its message.
	script := `set -e
if [ ! -f /data/ran-once ]; then touch /data/ran-once; exit 3; fi
echo "$PASSWORD $MODE $ME $(cat /cfg/app.conf) $(cat /sec/password) $(hostname)" > /scratch/out
cp /scratch/out /dev/termination-log`
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe-config", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox", Command: []string{"sh", "-c", script},
				Env: []corev1.EnvVar{
					{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
					{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
					{Name: "ME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "cfg", MountPath: "/cfg"}, {Name: "sec", MountPath: "/sec", ReadOnly: true},
					{Name: "scratch", MountPath: "/scratch"}, {Name: "data", MountPath: "/data"},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			},
		},
	}
	check(t, errOf(cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})))
	got := waitPod(t, cs, ns, pod.Name, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	st := got.Status.ContainerStatuses[0]
	want := "s3cret dev probe-config colour=green s3cret probe-config\n"
	if st.RestartCount != 1 || st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.ExitCode != 3 ||
		st.State.Terminated == nil || st.State.Terminated.Message != want {
		t.Fatalf("status %+v, want one restart after exit 3 and message %q", st, want)
	}
	if ip := got.Status.PodIP; !strings.HasPrefix(ip, "10.244.") || !strings.HasPrefix(got.Annotations[LoopbackAnnotation], "127.1.") {
		t.Fatalf("pod IP %q / loopback %q", ip, got.Annotations[LoopbackAnnotation])
	}

	// A long-running pod is stopped with SIGTERM when deleted, and removed.
	sleeper := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper", Namespace: ns},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](5), Containers: []corev1.Container{{
			Name: "main", Image: "busybox", Command: []string{"sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"},
			ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
				Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/etc/hosts"}}}},
		}}},
	}
	check(t, errOf(cs.CoreV1().Pods(ns).Create(ctx, sleeper, metav1.CreateOptions{})))
	waitPod(t, cs, ns, "sleeper", func(p *corev1.Pod) bool { return isReady(p) })
	start := time.Now()
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "sleeper", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cs, ns, "sleeper")
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("deletion took %s: the SIGTERM trap should have ended it at once", d)
	}

	stopAgent()
	if err := <-agentDone; err != nil {
		t.Fatal(err)
	}
	agentDone <- nil
	c.Stop()
	if left := localcluster.Leftovers(c.Marker); len(left) > 0 {
		out, _ := exec.Command("ps", "-o", "pid,cmd", "-p", strings.Trim(fmt.Sprint(left), "[]")).CombinedOutput()
		t.Fatalf("processes left after the agent and cluster stopped: %s", out)
	}
	switch _, err := os.Stat(corev1.TerminationMessagePathDefault); {
	case err == nil && !hostHadTermLog:
		t.Errorf("%s left on the host", corev1.TerminationMessagePathDefault)
	case err != nil && hostHadTermLog:
		t.Errorf("%s was on the host before the test and is gone: %v", corev1.TerminationMessagePathDefault, err)
	}
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func waitPod(t *testing.T, cs kubernetes.Interface, ns, name string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: condition not met: %v %+v", name, err, p.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitGone(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pod %s not removed", name)
}

// errOf drops a call's value to check its error.
func errOf[T any](_ T, err error) error { return err }

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
