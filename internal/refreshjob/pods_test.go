package refreshjob

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func runnerPod(name string, created time.Time, state corev1.ContainerState) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Status:     corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: ContainerName, State: state}}},
	}
}

func TestPodProblem(t *testing.T) {
	waiting := func(reason, msg string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	}
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"no pod yet", nil, ""},
		{"creating", []corev1.Pod{runnerPod("p", t0, waiting("ContainerCreating", ""))}, ""},
		{"missing secret", []corev1.Pod{runnerPod("p", t0, waiting("CreateContainerConfigError", `secret "db" not found`))},
			`pod p: container refresh-runner cannot start: CreateContainerConfigError: secret "db" not found`},
		{"image", []corev1.Pod{runnerPod("p", t0, waiting("ImagePullBackOff", `Back-off pulling image "x"`))},
			`pod p: container refresh-runner cannot start: ImagePullBackOff: Back-off pulling image "x"`},
		{"failed attempt carries the last log lines", []corev1.Pod{runnerPod("p", t0, corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, Message: "mount: /sanitize: special device does not exist\n"}})},
			"pod p: container refresh-runner failed (Error, exit code 1): mount: /sanitize: special device does not exist"},
		{"newest pod first", []corev1.Pod{
			runnerPod("old", t0, waiting("ErrImagePull", "old")),
			runnerPod("new", t0.Add(time.Minute), waiting("CreateContainerError", "new")),
		}, "pod new: container refresh-runner cannot start: CreateContainerError: new"},
		{"unschedulable", []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available"}}}}},
			"pod p cannot be scheduled: 0/1 nodes are available"},
	} {
		if got := PodProblem(tc.pods); got != tc.want {
			t.Errorf("%s: PodProblem = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPlanRunningJobThatCannotStartIsDegraded(t *testing.T) {
	obs := Observation{Now: t0, Generation: 1, Schedule: schedule(t)}
	obs.Jobs = []ObservedJob{{Name: "r-1", State: JobActive, Start: t0,
		Problem: `pod p: container refresh-runner cannot start: CreateContainerConfigError: secret "db" not found`}}
	p := PlanStatus(deployv1alpha1.DatabaseRefreshStatus{}, obs)
	st := p.Status
	if got := reasons(p.Events); len(got) != 2 || got[1] != EventRefreshFailing || !p.Events[1].Warning {
		t.Errorf("events = %v", got)
	}
	if again := PlanStatus(st, obs); len(again.Events) != 0 {
		t.Errorf("reported twice: %v", reasons(again.Events))
	}
	// Dev still serves its copy: Ready says nothing about the running Job.
	wantCond(t, st, deployv1alpha1.ConditionReady, metav1.ConditionTrue, deployv1alpha1.ReasonScheduled)
	wantCond(t, st, deployv1alpha1.ConditionDegraded, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshFailing)
	wantCond(t, st, deployv1alpha1.ConditionStalled, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshFailing)
	wantCond(t, st, deployv1alpha1.ConditionProgressing, metav1.ConditionTrue, deployv1alpha1.ReasonRefreshRunning)
	for _, typ := range []string{deployv1alpha1.ConditionDegraded, deployv1alpha1.ConditionProgressing} {
		if c := cond(t, st, typ); !strings.Contains(c.Message, `CreateContainerConfigError: secret "db" not found`) {
			t.Errorf("%s message = %q", typ, c.Message)
		}
	}
}

func TestPodProblemKeepsTheEndOfALongMessage(t *testing.T) {
	var log strings.Builder
	for i := 1; i <= 80; i++ {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	log.WriteString(`psql:/migrate.sql:3: ERROR:  column "nope" does not exist`)
	got := PodProblem([]corev1.Pod{runnerPod("p", t0, corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 3, Message: log.String()}})})
	want := "pod p: container refresh-runner failed (Error, exit code 3): ...line 77\nline 78\nline 79\nline 80\n" +
		`psql:/migrate.sql:3: ERROR:  column "nope" does not exist`
	if got != want {
		t.Errorf("PodProblem = %q, want %q", got, want)
	}
}
