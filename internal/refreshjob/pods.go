package refreshjob

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// stuckReasons are the waiting reasons of a container that will not start
// without a person fixing something (a missing Secret, a wrong image).
var stuckReasons = map[string]bool{
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"RunContainerError":          true,
}

// PodProblem is why a Job's pod cannot start or failed an attempt (a
// refresh Job's runner, a site's check or migration), read from its pods
// as the kubelet reports them: a container waiting with a reason that
// needs a fix, a container that ended with a non-zero exit code (its
// message carries its last log lines, cut to the end of a long one), or a
// pod that cannot be scheduled. The newest pod is read first. "" when
// nothing is wrong (yet).
func PodProblem(pods []corev1.Pod) string {
	sorted := append([]corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(a, b int) bool {
		return sorted[b].CreationTimestamp.Before(&sorted[a].CreationTimestamp)
	})
	for i := range sorted {
		if p := podProblem(&sorted[i]); p != "" {
			return p
		}
	}
	return ""
}

func podProblem(pod *corev1.Pod) string {
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil && stuckReasons[w.Reason] {
			return withMessage(fmt.Sprintf("pod %s: container %s cannot start: %s", pod.Name, cs.Name, w.Reason), w.Message)
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return withMessage(fmt.Sprintf("pod %s: container %s failed (%s, exit code %d)", pod.Name, cs.Name, t.Reason, t.ExitCode), t.Message)
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return withMessage(fmt.Sprintf("pod %s cannot be scheduled", pod.Name), c.Message)
		}
	}
	return ""
}

func withMessage(s, msg string) string {
	msg = lastWords(strings.TrimSpace(msg))
	if msg == "" {
		return s
	}
	return s + ": " + msg
}

// lastWords keeps the end of a termination message (a failed container's
// last log lines): its last five lines, at most 400 bytes, so that the
// problem fits a condition and an event (1 KiB) beside its context.
func lastWords(msg string) string {
	const maxLines, maxBytes = 5, 400
	lines := strings.Split(msg, "\n")
	cut := len(lines) > maxLines
	if cut {
		lines = lines[len(lines)-maxLines:]
	}
	msg = strings.Join(lines, "\n")
	if len(msg) > maxBytes {
		msg, cut = strings.ToValidUTF8(msg[len(msg)-maxBytes:], ""), true
	}
	if cut {
		msg = "..." + msg
	}
	return msg
}
