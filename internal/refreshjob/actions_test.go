package refreshjob

import (
	"strings"
	"testing"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A second refresh-now while the first one runs is merged into it, with an
// answer and an event; a token while a scheduled run runs waits for it; a
// token replacing one that waits says so.
func TestRefreshNowAnswers(t *testing.T) {
	running := func(name string, now bool) []ObservedJob {
		return []ObservedJob{{Name: name, Now: now, State: JobActive, Start: t0}}
	}
	for _, tc := range []struct {
		name      string
		prev      deployv1alpha1.DatabaseRefreshStatus
		obs       Observation
		answer    string
		mergeNote string
		acted     string
	}{
		{name: "started",
			obs:    Observation{RefreshNowRequested: "a", RefreshNowToken: "a", RefreshNowJob: "r-now-a", Jobs: running("r-now-a", true)},
			answer: "refresh Job r-now-a runs it", acted: "a"},
		{name: "second while the first runs: merged",
			prev: deployv1alpha1.DatabaseRefreshStatus{LastRefreshNowToken: "a", Actions: []deployv1alpha1.ActionStatus{answer("a", "refresh Job r-now-a runs it")}},
			obs:  Observation{RefreshNowRequested: "b", RefreshNowToken: "b", RefreshNowMergedInto: "r-now-a", Jobs: running("r-now-a", true)},
			answer: "merged into refresh-now Job r-now-a, which is already running: one refresh answers both requests, no second one runs; " +
				"to refresh again after it, set a new value once it has ended",
			mergeNote: deployv1alpha1.AnnotationRefreshNow + "=b merged into refresh-now Job r-now-a", acted: "b"},
		{name: "while a scheduled refresh runs: waits",
			obs:    Observation{RefreshNowRequested: "a", RefreshNowQueuedBehind: "nightly-1", Jobs: running("nightly-1", false)},
			answer: "waits for the running refresh Job nightly-1 to end, then starts a refresh (two refreshes of one database never overlap)"},
		{name: "second while the first waits: replaces it",
			prev: deployv1alpha1.DatabaseRefreshStatus{RefreshNowQueuedBehind: "nightly-1",
				Actions: []deployv1alpha1.ActionStatus{answer("a", "waits for the running refresh Job nightly-1 to end, then starts a refresh (two refreshes of one database never overlap)")}},
			obs:       Observation{RefreshNowRequested: "b", RefreshNowQueuedBehind: "nightly-1", Jobs: running("nightly-1", false)},
			answer:    "replaces the refresh-now already waiting for refresh Job nightly-1: one refresh starts once it ends",
			mergeNote: deployv1alpha1.AnnotationRefreshNow + "=b replaces the refresh-now already waiting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.obs.Now, tc.obs.Generation, tc.obs.Schedule = t0, 1, schedule(t)
			p := PlanStatus(tc.prev, tc.obs)
			if a := p.Status.Actions; len(a) != 1 || a[0].Value != tc.obs.RefreshNowRequested || a[0].Message != tc.answer {
				t.Fatalf("status.actions = %+v, want the answer %q", a, tc.answer)
			}
			var merged []Event
			for _, e := range p.Events {
				if e.Reason == EventRefreshNowMerged {
					merged = append(merged, e)
				}
			}
			if tc.mergeNote == "" && len(merged) != 0 || tc.mergeNote != "" && (len(merged) != 1 || !strings.HasPrefix(merged[0].Note, tc.mergeNote)) {
				t.Fatalf("events %+v, want a merge event %q", p.Events, tc.mergeNote)
			}
			if tc.acted != "" && p.Status.LastRefreshNowToken != tc.acted {
				t.Fatalf("lastRefreshNowToken %q, want %q", p.Status.LastRefreshNowToken, tc.acted)
			}
			// Answered once: the next pass with the same answer changes nothing.
			again := PlanStatus(p.Status, tc.obs)
			for _, e := range again.Events {
				if e.Reason == EventRefreshNowMerged {
					t.Fatalf("the merge was reported again: %+v", again.Events)
				}
			}
		})
	}
}

func answer(token, msg string) deployv1alpha1.ActionStatus {
	return deployv1alpha1.ActionStatus{Annotation: deployv1alpha1.AnnotationRefreshNow, Value: token, Result: deployv1alpha1.ActionAccepted, Message: msg}
}

func TestMergeIntoOnlyARunningRefreshNow(t *testing.T) {
	if got := MergeInto(&ObservedJob{Name: "r-now-a", Now: true, State: JobActive}); got != "r-now-a" {
		t.Errorf("MergeInto(a running refresh-now) = %q", got)
	}
	if got := MergeInto(&ObservedJob{Name: "nightly-1", State: JobActive}); got != "" {
		t.Errorf("MergeInto(a scheduled refresh) = %q: a person's request waits for it instead", got)
	}
	if got := MergeInto(nil); got != "" {
		t.Errorf("MergeInto(nothing running) = %q", got)
	}
}
