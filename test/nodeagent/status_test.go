package nodeagent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// phase follows the kubelet's rules for the pod phase from container states.
func TestPhase(t *testing.T) {
	term := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	waiting := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}
	type ctr struct {
		s    corev1.ContainerStatus
		done bool
	}
	cases := []struct {
		name  string
		inits []ctr
		ctrs  []ctr
		want  corev1.PodPhase
	}{
		{"not started", nil, []ctr{{waiting, false}}, corev1.PodPending},
		{"running", nil, []ctr{{running, false}, {waiting, false}}, corev1.PodRunning},
		{"all exited 0", nil, []ctr{{term(0), true}, {term(0), true}}, corev1.PodSucceeded},
		{"one exited 1 for good", nil, []ctr{{term(0), true}, {term(1), true}}, corev1.PodFailed},
		{"one failed, other still running", nil, []ctr{{term(1), true}, {running, false}}, corev1.PodRunning},
		{"restarting after a failure", nil, []ctr{{term(1), false}}, corev1.PodRunning},
		{"init still running", []ctr{{running, false}}, []ctr{{waiting, false}}, corev1.PodPending},
		{"init failed for good", []ctr{{term(2), true}}, []ctr{{waiting, false}}, corev1.PodFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &podRunner{}
			mk := func(cs []ctr, init bool) []*containerRunner {
				var out []*containerRunner
				for _, c := range cs {
					out = append(out, &containerRunner{r: r, init: init, status: c.s, done: c.done})
				}
				return out
			}
			r.inits, r.ctrs = mk(tc.inits, true), mk(tc.ctrs, false)
			if got := r.phase(); got != tc.want {
				t.Fatalf("phase = %s, want %s", got, tc.want)
			}
		})
	}
}
