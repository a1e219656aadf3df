package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// candidatePod creates a pod of the candidate as its ReplicaSet would, and
// returns a function that plays its kubelet: it writes the container's
// status through the status subresource.
func (s *site) candidatePod(name string, color v1.Color, rev string) func(corev1.ContainerStatus) {
	s.t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns,
		Labels: map[string]string{"app": "shop", v1.LabelSite: "shop", v1.LabelColor: string(color), v1.LabelRevision: rev}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "shop:2"}}}}
	if err := k8sClient.Create(ctx, pod); err != nil {
		s.t.Fatal(err)
	}
	return func(cs corev1.ContainerStatus) {
		s.t.Helper()
		updateStatus := func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
				return err
			}
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{cs},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}}
			return k8sClient.Status().Update(ctx, pod)
		}
		eventually(s.t, "the pod's status written", updateStatus)
	}
}

func crashLooping(backoff string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "web", RestartCount: 3,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: "back-off " + backoff + " restarting failed container=web"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2,
			Message: "panic: no DATABASE_URL"}}}
}

// A candidate whose container crash-loops is named within seconds in the
// site's message and conditions, in one Warning event, and in the plugin's
// tree, long before its progress deadline.
func TestCrashingCandidateIsNamedWithinSeconds(t *testing.T) {
	s, _ := healthySite(t)
	s.release("shop:2")
	r2 := s.revision()
	s.waitReplicas(v1.Green, 2)
	kubelet := s.candidatePod("shop-green-7d9-a", v1.Green, r2)
	kubelet(crashLooping("10s"))
	crashed := time.Now()

	named := "pod shop-green-7d9-a: container web cannot start: CrashLoopBackOff: back-off 10s restarting failed container=web; " +
		"last ended (Error, exit code 2): panic: no DATABASE_URL"
	want := "starting revision " + r2 + " on green: " + named
	eventually(t, "the crashing pod named", func() error {
		sd := s.get()
		c := condition(sd, v1.ConditionProgressing)
		if sd.Status.Message != want || c == nil || c.Reason != v1.ReasonCandidateNotReady || c.Message != want {
			return fmt.Errorf("%s: %s (Progressing %+v)", sd.Status.Phase, sd.Status.Message, c)
		}
		return nil
	})
	if d := time.Since(crashed); d > 5*time.Second {
		t.Errorf("named %s after the pod crashed", d)
	}
	if ev := s.eventWith(v1.EventCandidateNotReady); ev.Type != corev1.EventTypeWarning ||
		ev.Note != "revision "+r2+" on green is not becoming ready: "+named {
		t.Fatalf("event %s: %s", ev.Type, ev.Note)
	}
	out, errOut, code := s.runPlugin("get", "sdep", "shop")
	if code != 0 || !strings.Contains(out, "├── green  revision "+r2+"  0/2 ready  preview") || !strings.Contains(out, "│   not ready: "+named) {
		t.Fatalf("exit %d %s:\n%s", code, errOut, out)
	}

	// The kubelet backs off further: the message follows, no new event.
	kubelet(crashLooping("20s"))
	eventually(t, "the message to follow", func() error {
		if msg := s.get().Status.Message; !strings.Contains(msg, "back-off 20s") {
			return fmt.Errorf("%s", msg)
		}
		return nil
	})
	evs := &eventsv1.EventList{}
	if err := k8sClient.List(context.Background(), evs, client.InNamespace(s.ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs.Items {
		if e.Reason == v1.EventCandidateNotReady {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d CandidateNotReady events, want 1 (on the transition only)", n)
	}
}
