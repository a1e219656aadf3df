package poddiag

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

func pod(name string, created time.Time, cs ...corev1.ContainerStatus) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Status:     corev1.PodStatus{ContainerStatuses: cs},
	}
}

func in(state corev1.ContainerState) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "web", State: state}
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func TestNewest(t *testing.T) {
	crashed := in(waiting("CrashLoopBackOff", "back-off 10s restarting failed container=web pod=shop-green-1"))
	crashed.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2, Message: "panic: no DATABASE_URL\n"}
	running := func(since time.Duration, ready bool) corev1.ContainerStatus {
		cs := in(corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0.Add(-since))}})
		cs.Ready = ready
		return cs
	}
	for _, tc := range []struct {
		name, headline string
		pods           []corev1.Pod
		want           string
	}{
		{"no pod yet", "", nil, ""},
		{"creating", "", []corev1.Pod{pod("p", t0, in(waiting("ContainerCreating", "")))}, ""},
		{"missing secret", "pod p: container web cannot start: CreateContainerConfigError",
			[]corev1.Pod{pod("p", t0, in(waiting("CreateContainerConfigError", `secret "db" not found`)))},
			`pod p: container web cannot start: CreateContainerConfigError: secret "db" not found`},
		{"image", "pod p: container web cannot start: ImagePullBackOff",
			[]corev1.Pod{pod("p", t0, in(waiting("ImagePullBackOff", `Back-off pulling image "x"`)))},
			`pod p: container web cannot start: ImagePullBackOff: Back-off pulling image "x"`},
		{"crash loop names the last termination", "pod shop-green-1: container web cannot start: CrashLoopBackOff",
			[]corev1.Pod{pod("shop-green-1", t0, crashed)},
			"pod shop-green-1: container web cannot start: CrashLoopBackOff: back-off 10s restarting failed container=web pod=shop-green-1; " +
				"last ended (Error, exit code 2): panic: no DATABASE_URL"},
		{"failed attempt carries the last log lines", "pod p: container web failed (Error, exit code 1)", []corev1.Pod{pod("p", t0, in(corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, Message: "mount: /sanitize: special device does not exist\n"}}))},
			"pod p: container web failed (Error, exit code 1): mount: /sanitize: special device does not exist"},
		{"newest pod first", "pod new: container web cannot start: CreateContainerError", []corev1.Pod{
			pod("old", t0, in(waiting("ErrImagePull", "old"))),
			pod("new", t0.Add(time.Minute), in(waiting("CreateContainerError", "new"))),
		}, "pod new: container web cannot start: CreateContainerError: new"},
		{"unschedulable", "pod p cannot be scheduled", []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available"}}}}},
			"pod p cannot be scheduled: 0/1 nodes are available"},
		{"unready within the grace", "", []corev1.Pod{pod("p", t0, running(NotReadyGrace-time.Second, false))}, ""},
		{"ready", "", []corev1.Pod{pod("p", t0, running(time.Hour, true))}, ""},
		{"unready past the grace", "pod p: container web runs but is not ready", []corev1.Pod{pod("p", t0, running(time.Minute, false))},
			"pod p: container web runs but is not ready: since 2026-11-27T02:59:00Z (its readiness probe fails, or it is still starting)"},
	} {
		got, ok := Newest(tc.pods, t0)
		if ok != (tc.want != "") || got.String() != tc.want || got.Headline != tc.headline {
			t.Errorf("%s: Newest = %q (headline %q), want %q (headline %q)", tc.name, got, got.Headline, tc.want, tc.headline)
		}
	}
}

func TestClipKeepsTheEnd(t *testing.T) {
	long := strings.Repeat("é", MaxMessage) + " the last line"
	got := Clip(long)
	if !strings.HasPrefix(got, "...") || !strings.HasSuffix(got, " the last line") || len(got) > MaxMessage+3 || !strings.HasPrefix(got[3:], "é") {
		t.Fatalf("Clip = %q (%d bytes)", got, len(got))
	}
}

func TestClipKeepsTheLastLinesOfALongLog(t *testing.T) {
	var log strings.Builder
	for i := 1; i <= 80; i++ {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	log.WriteString(`psql:/migrate.sql:3: ERROR:  column "nope" does not exist`)
	want := "...line 77\nline 78\nline 79\nline 80\n" + `psql:/migrate.sql:3: ERROR:  column "nope" does not exist`
	if got := Clip(log.String()); got != want {
		t.Errorf("Clip = %q, want %q", got, want)
	}
}
