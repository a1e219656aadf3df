package nodeagent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// phase is the pod phase from its containers' states, as the kubelet
// computes it: Failed when an init container failed for good or any
// container ended for good with a non-zero code once all have ended,
// Succeeded when all ended for good with 0, Running once any has started.
func (r *podRunner) phase() corev1.PodPhase {
	if r.setupErr != "" {
		return corev1.PodPending
	}
	for _, c := range r.inits {
		s, done := c.snapshot()
		if done && !c.succeeded() {
			return corev1.PodFailed
		}
		if !done {
			return corev1.PodPending
		}
		_ = s
	}
	allDone, anyFailed, anyStarted := true, false, false
	for _, c := range r.ctrs {
		s, done := c.snapshot()
		if s.State.Running != nil || s.State.Terminated != nil || s.RestartCount > 0 {
			anyStarted = true
		}
		if !done {
			allDone = false
		} else if s.State.Terminated != nil && s.State.Terminated.ExitCode != 0 {
			anyFailed = true
		}
	}
	switch {
	case allDone && anyFailed:
		return corev1.PodFailed
	case allDone:
		return corev1.PodSucceeded
	case anyStarted:
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// buildStatus is the pod status from what the agent observed, keeping the
// conditions others own (PodScheduled, readiness gates).
func (r *podRunner) buildStatus(old corev1.PodStatus, pod *corev1.Pod) corev1.PodStatus {
	st := *old.DeepCopy()
	st.Phase = r.phase()
	if r.podIP != "" {
		st.PodIP, st.PodIPs = r.podIP, []corev1.PodIP{{IP: r.podIP}}
		st.HostIP, st.HostIPs = "127.0.0.1", []corev1.HostIP{{IP: "127.0.0.1"}}
	}
	if st.StartTime == nil {
		st.StartTime = &r.startTime
	}
	st.Message, st.Reason = "", ""
	if r.setupErr != "" {
		st.Message, st.Reason = r.setupErr, "SandboxNotReady"
	}
	st.InitContainerStatuses = nil
	initsDone := true
	for _, c := range r.inits {
		s, done := c.snapshot()
		initsDone = initsDone && done && c.succeeded()
		st.InitContainerStatuses = append(st.InitContainerStatuses, s)
	}
	st.ContainerStatuses = nil
	allReady := len(r.ctrs) > 0
	for _, c := range r.ctrs {
		s, _ := c.snapshot()
		allReady = allReady && s.Ready
		st.ContainerStatuses = append(st.ContainerStatuses, s)
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		allReady = false
	}
	gatesOK := true
	for _, g := range pod.Spec.ReadinessGates {
		gatesOK = gatesOK && conditionTrue(st.Conditions, g.ConditionType)
	}
	setCondition(&st.Conditions, corev1.PodReadyToStartContainers, r.setupErr == "" && r.podIP != "")
	setCondition(&st.Conditions, corev1.PodInitialized, initsDone)
	setCondition(&st.Conditions, corev1.ContainersReady, allReady)
	setCondition(&st.Conditions, corev1.PodReady, allReady && gatesOK)
	return st
}

func conditionTrue(cs []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range cs {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// setCondition sets a condition, moving its transition time only on change.
func setCondition(cs *[]corev1.PodCondition, t corev1.PodConditionType, ok bool) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	for i := range *cs {
		if (*cs)[i].Type == t {
			if (*cs)[i].Status != status {
				(*cs)[i].Status, (*cs)[i].LastTransitionTime = status, metav1.Now()
			}
			return
		}
	}
	*cs = append(*cs, corev1.PodCondition{Type: t, Status: status, LastTransitionTime: metav1.Now()})
}

// writeStatus writes the observed status, skipping the write when nothing changed.
func (r *podRunner) writeStatus(ctx context.Context) {
	pods := r.a.cs.CoreV1().Pods(r.latest().Namespace)
	name := r.latest().Name
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.UID != r.uid {
			return nil
		}
		st := r.buildStatus(pod.Status, pod)
		if equality.Semantic.DeepEqual(st, pod.Status) {
			return nil
		}
		pod.Status = st
		_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		r.a.opts.Log.Error(fmt.Errorf("cannot write pod status: %w", err), "", "pod", r.key)
	}
}
