package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// setPodWaiting plays the kubelet: the runner container waits with reason.
func setPodWaiting(t *testing.T, pod *corev1.Pod, reason, message string) {
	t.Helper()
	eventually(t, "pod "+pod.Name+" waiting", func() error {
		p := &corev1.Pod{}
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pod), p); err != nil {
			return err
		}
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "refresh-runner", Image: p.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
		}}
		return k8sClient.Status().Update(context.Background(), p)
	})
}

func TestDatabaseRefreshPodThatCannotStartIsReported(t *testing.T) {
	r := newRefresh(t)
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	_, pod := r.startJob("nightly-1", time.Now().UTC().Truncate(time.Second))
	r.waitCondition(v1.ConditionProgressing, metav1.ConditionTrue, v1.ReasonRefreshRunning)

	const why = `secret "dev-db" not found`
	setPodWaiting(t, pod, "CreateContainerConfigError", why)
	dr := r.waitCondition(v1.ConditionDegraded, metav1.ConditionTrue, v1.ReasonRefreshFailing)
	for _, typ := range []string{v1.ConditionDegraded, v1.ConditionStalled, v1.ConditionProgressing} {
		c := refreshCondition(dr, typ)
		if c == nil || !strings.Contains(c.Message, "nightly-1") || !strings.Contains(c.Message, "CreateContainerConfigError: "+why) {
			t.Errorf("%s = %+v", typ, c)
		}
	}
	// Dev keeps serving its copy: Ready is about the data, not the Job.
	if c := refreshCondition(dr, v1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v", c)
	}
	if ev := r.waitEvent("RefreshFailing"); ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, why) {
		t.Errorf("event = %s %q", ev.Type, ev.Note)
	}
}

func TestDatabaseRefreshFailedAttemptCarriesTheRunnersLastLines(t *testing.T) {
	r := newRefresh(t)
	r.waitCondition(v1.ConditionReady, metav1.ConditionTrue, v1.ReasonScheduled)
	_, pod := r.startJob("nightly-1", time.Now().UTC().Truncate(time.Second))
	if pod.Spec.Containers[0].TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Errorf("termination message policy = %s", pod.Spec.Containers[0].TerminationMessagePolicy)
	}
	// The kubelet puts the last log lines in the message of a container that
	// failed without writing its termination file.
	const lines = "mount: /sanitize: special device /tmp/x does not exist"
	eventually(t, "pod failed", func() error {
		p := &corev1.Pod{}
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pod), p); err != nil {
			return err
		}
		p.Status.Phase = corev1.PodFailed
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "refresh-runner", Image: p.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 32, Reason: "Error", Message: lines}},
		}}
		return k8sClient.Status().Update(context.Background(), p)
	})
	r.waitFor("Degraded with the runner's last lines", func(dr *v1.DatabaseRefresh) error {
		if c := refreshCondition(dr, v1.ConditionDegraded); c == nil || c.Reason != v1.ReasonRefreshFailing || !strings.Contains(c.Message, lines) {
			return fmt.Errorf("Degraded = %+v", c)
		}
		return nil
	})
}
