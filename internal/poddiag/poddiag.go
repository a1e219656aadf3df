// Package poddiag says why a pod is not running or not becoming ready,
// from its status as the kubelet reports it: a container waiting with a
// reason that needs a fix (with its last termination), a container that
// ended with a non-zero exit code, one that runs but stays unready, or a
// pod that cannot be scheduled. The SiteDeployment and DatabaseRefresh
// controllers and the kubectl plugin put these words in front of a person.
package poddiag

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// MaxMessage bounds a message as it is quoted (a termination message may
// be 4 KiB); the cache keeps no more of one either.
const MaxMessage = 512

// NotReadyGrace is how long a container may run unready (starting, or its
// readiness probe failing) before it is named.
const NotReadyGrace = 30 * time.Second

// stuckReasons are the waiting reasons of a container that will not start
// without a person fixing something (a missing Secret, a wrong image, a
// program that crashes).
var stuckReasons = map[string]bool{
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"RunContainerError":          true,
}

// Problem is why one pod is not becoming ready.
type Problem struct {
	Pod string
	// Headline names the pod, its container and the reason; it stays the
	// same while the problem does (a back-off's message changes), so a
	// change of headline is a transition worth an event.
	Headline string
	// Detail is what the kubelet says about it: its message, and the
	// container's last termination.
	Detail string
}

func (p Problem) String() string {
	if p.Detail == "" {
		return p.Headline
	}
	return p.Headline + ": " + p.Detail
}

// Of says why pod is not becoming ready at now; false when nothing is
// wrong (yet).
func Of(pod *corev1.Pod, now time.Time) (Problem, bool) {
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if p, ok := containerProblem(pod.Name, &cs, now); ok {
			return p, true
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return Problem{Pod: pod.Name, Headline: fmt.Sprintf("pod %s cannot be scheduled", pod.Name), Detail: Clip(c.Message)}, true
		}
	}
	return Problem{}, false
}

func containerProblem(pod string, cs *corev1.ContainerStatus, now time.Time) (Problem, bool) {
	last := ""
	if t := cs.LastTerminationState.Terminated; t != nil {
		last = "last ended " + terminated(t)
	}
	switch s := cs.State; {
	case s.Waiting != nil && stuckReasons[s.Waiting.Reason]:
		return Problem{Pod: pod, Headline: fmt.Sprintf("pod %s: container %s cannot start: %s", pod, cs.Name, s.Waiting.Reason),
			Detail: join(Clip(s.Waiting.Message), last)}, true
	case s.Terminated != nil && s.Terminated.ExitCode != 0:
		return Problem{Pod: pod, Headline: fmt.Sprintf("pod %s: container %s failed (%s, exit code %d)", pod, cs.Name, s.Terminated.Reason, s.Terminated.ExitCode),
			Detail: Clip(s.Terminated.Message)}, true
	case s.Running != nil && !cs.Ready && !s.Running.StartedAt.IsZero() && !now.Before(s.Running.StartedAt.Add(NotReadyGrace)):
		return Problem{Pod: pod, Headline: fmt.Sprintf("pod %s: container %s runs but is not ready", pod, cs.Name),
			Detail: join(fmt.Sprintf("since %s (its readiness probe fails, or it is still starting)", s.Running.StartedAt.UTC().Format(time.RFC3339)), last)}, true
	}
	return Problem{}, false
}

// terminated says how a container ended: "(Error, exit code 1): message".
func terminated(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("(%s, exit code %d)", t.Reason, t.ExitCode)
	if m := Clip(t.Message); m != "" {
		s += ": " + m
	}
	return s
}

// Newest is the problem of the newest of pods that has one.
func Newest(pods []corev1.Pod, now time.Time) (Problem, bool) {
	sorted := append([]corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(a, b int) bool {
		return sorted[b].CreationTimestamp.Before(&sorted[a].CreationTimestamp)
	})
	for i := range sorted {
		if p, ok := Of(&sorted[i], now); ok {
			return p, true
		}
	}
	return Problem{}, false
}

// MaxLines bounds a quoted message's lines: a failed program's last lines
// say most, and a condition and an event (1 KiB) hold them with their
// context.
const MaxLines = 5

// Clip trims a message and keeps at most its last MaxLines lines and its
// last MaxMessage bytes, on a rune boundary; "..." marks a cut.
func Clip(msg string) string {
	msg = strings.TrimSpace(msg)
	cut := false
	if lines := strings.Split(msg, "\n"); len(lines) > MaxLines {
		msg, cut = strings.Join(lines[len(lines)-MaxLines:], "\n"), true
	}
	if len(msg) > MaxMessage {
		from := len(msg) - MaxMessage
		for from < len(msg) && msg[from]&0xC0 == 0x80 {
			from++
		}
		msg, cut = msg[from:], true
	}
	if cut {
		msg = "..." + msg
	}
	return msg
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// NamedAt is when a container of pod that runs unready will be named (Of)
// if it stays so; zero when none waits for that.
func NamedAt(pod *corev1.Pod, now time.Time) time.Time {
	var at time.Time
	for _, cs := range pod.Status.ContainerStatuses {
		if r := cs.State.Running; r != nil && !cs.Ready && !r.StartedAt.IsZero() {
			if t := r.StartedAt.Add(NotReadyGrace); t.After(now) && (at.IsZero() || t.Before(at)) {
				at = t
			}
		}
	}
	return at
}
