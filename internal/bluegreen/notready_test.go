package bluegreen

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/poddiag"
)

func problem(pod, headline, detail string) poddiag.Problem {
	return poddiag.Problem{Pod: pod, Headline: headline, Detail: detail}
}

var crashLoop = problem("shop-green-1", "pod shop-green-1: container web cannot start: CrashLoopBackOff",
	"back-off 10s restarting failed container=web; last ended (Error, exit code 2): panic: no DATABASE_URL")

// A candidate pod that is not becoming ready is named in the message and
// the conditions at once, with a Warning event on each new problem only;
// the release still waits for its progress deadline, whose abort names it.
func TestCandidateNotBecomingReadyIsNamed(t *testing.T) {
	r2 := rev("shop:2")
	for _, tc := range []struct {
		name     string
		pods     []PodProblem
		want     string // in the message; "" for none
		requeue  time.Duration
		scenario func(t *testing.T, w *world)
	}{
		{name: "crash loop", pods: []PodProblem{{Revision: r2, Problem: crashLoop}}, want: crashLoop.String(), requeue: 10 * time.Minute},
		{name: "image pull", pods: []PodProblem{{Revision: r2, Problem: problem("shop-green-1",
			"pod shop-green-1: container web cannot start: ImagePullBackOff", `Back-off pulling image "shop:2"`)}},
			want: `pod shop-green-1: container web cannot start: ImagePullBackOff: Back-off pulling image "shop:2"`, requeue: 10 * time.Minute},
		{name: "unschedulable", pods: []PodProblem{{Revision: r2, Problem: problem("shop-green-1", "pod shop-green-1 cannot be scheduled", "0/3 nodes are available")}},
			want: "pod shop-green-1 cannot be scheduled: 0/3 nodes are available", requeue: 10 * time.Minute},
		{name: "a pod of the revision the color ran before", pods: []PodProblem{{Revision: rev("shop:0"), Problem: crashLoop}}, requeue: 10 * time.Minute},
		{name: "unready within its grace: looked at again when it would be named",
			pods: []PodProblem{{Revision: r2, NamedAt: time.Date(2026, 11, 27, 12, 0, 20, 0, time.UTC)}}, requeue: 20 * time.Second},
		{name: "one event per problem, the deadline's abort names it", pods: []PodProblem{{Revision: r2, Problem: crashLoop}}, want: crashLoop.String(),
			requeue: 10 * time.Minute, scenario: func(t *testing.T, w *world) {
				again := crashLoop
				again.Detail = "back-off 20s restarting failed container=web"
				w.notReady[v1.Green][0].Problem = again
				w.reconcile()
				if len(w.events(v1.EventCandidateNotReady)) != 0 || !strings.Contains(w.site.Status.Message, again.String()) {
					t.Fatalf("same problem again: events %+v, message %s", w.last.Events, w.site.Status.Message)
				}
				w.notReady[v1.Green][0].Problem = problem("shop-green-1", "pod shop-green-1: container web failed (Error, exit code 2)", "panic")
				w.reconcile()
				if len(w.events(v1.EventCandidateNotReady)) != 1 {
					t.Fatalf("a new problem: events %+v", w.last.Events)
				}
				w.advance(10 * time.Minute)
				w.reconcile()
				w.expect(v1.PhaseDegraded, v1.Blue, rev("shop:1"))
				if !strings.Contains(w.site.Status.AbortMessage, "within the progress deadline (10m0s) (pod shop-green-1: container web failed (Error, exit code 2): panic)") {
					t.Fatalf("abort: %s", w.site.Status.AbortMessage)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.healthyOn("shop:1")
			w.release("shop:2")
			w.reconcile()
			w.notReady = map[v1.Color][]PodProblem{v1.Green: tc.pods}
			w.reconcile()
			st := w.site.Status
			progressing := meta.FindStatusCondition(st.Conditions, v1.ConditionProgressing)
			events := w.events(v1.EventCandidateNotReady)
			if tc.want == "" {
				if st.Message != "starting revision "+r2+" on green" || progressing.Reason == v1.ReasonCandidateNotReady || len(events) != 0 {
					t.Fatalf("message %q, reason %s, events %+v", st.Message, progressing.Reason, events)
				}
			} else {
				want := "starting revision " + r2 + " on green: " + tc.want
				if st.Phase != v1.PhaseProgressing || st.Message != want || progressing.Status != "True" ||
					progressing.Reason != v1.ReasonCandidateNotReady || progressing.Message != want {
					t.Fatalf("%s: %q; Progressing %+v", st.Phase, st.Message, progressing)
				}
				if len(events) != 1 || !events[0].Warning || events[0].Note != "revision "+r2+" on green is not becoming ready: "+tc.want {
					t.Fatalf("events %+v", w.last.Events)
				}
			}
			if w.last.RequeueAfter != tc.requeue {
				t.Fatalf("requeue after %s, want %s", w.last.RequeueAfter, tc.requeue)
			}
			if tc.scenario != nil {
				tc.scenario(t, w)
			}
		})
	}
}
