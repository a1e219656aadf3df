package refreshjob

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The refresh-now annotation asks for one refresh. Two refreshes of one
// database never overlap, and a request never silently runs a second
// refresh for a person who asked twice:
//   - with no refresh running, a Job starts for the token;
//   - while a scheduled refresh runs, the token waits for it and then
//     starts its own (the scheduled run was not what the person asked for);
//   - while a refresh-now runs (MergeInto), the token is merged into it: it
//     was asked for moments ago, and one refresh answers both requests;
//   - a token set while another one waits replaces it: one refresh runs
//     once the running Job ends.
//
// Each token is answered in status.actions; a merge also by an event.

// MergeInto names the running refresh-now Job a new refresh-now token is
// merged into, "" when it is not (nothing runs, or a scheduled refresh).
func MergeInto(active *ObservedJob) string {
	if active == nil || !active.Now {
		return ""
	}
	return active.Name
}

// answerRefreshNow answers the refresh-now token of this pass in
// st.Actions, and returns the event a merge raises.
func answerRefreshNow(prev deployv1alpha1.DatabaseRefreshStatus, o Observation, st *deployv1alpha1.DatabaseRefreshStatus) []Event {
	token := o.RefreshNowRequested
	if token == "" {
		return nil
	}
	var msg, merged string
	switch {
	case o.RefreshNowMergedInto != "":
		merged = o.RefreshNowMergedInto
		msg = fmt.Sprintf("merged into refresh-now Job %s, which is already running: one refresh answers both requests, "+
			"no second one runs; to refresh again after it, set a new value once it has ended", merged)
	case o.RefreshNowQueuedBehind != "" && prev.RefreshNowQueuedBehind == o.RefreshNowQueuedBehind && waiting(prev, token):
		merged = o.RefreshNowQueuedBehind
		msg = fmt.Sprintf("replaces the refresh-now already waiting for refresh Job %s: one refresh starts once it ends", merged)
	case o.RefreshNowQueuedBehind != "":
		msg = fmt.Sprintf("waits for the running refresh Job %s to end, then starts a refresh (two refreshes of one database never overlap)", o.RefreshNowQueuedBehind)
	case o.RefreshNowToken == token:
		msg = "refresh Job " + o.RefreshNowJob + " runs it"
	case o.Blocked != nil:
		msg = "waits for the spec to be fixed (see the Degraded condition): " + o.Blocked.Error()
	default:
		return nil
	}
	a := deployv1alpha1.ActionStatus{Annotation: deployv1alpha1.AnnotationRefreshNow, Value: token,
		Result: deployv1alpha1.ActionAccepted, Message: msg, Time: metav1.NewTime(seconds(o.Now))}
	if old := answerOf(prev); old != nil && old.Value == a.Value && old.Message == a.Message {
		return nil // answered already
	}
	st.Actions = []deployv1alpha1.ActionStatus{a}
	if merged == "" {
		return nil
	}
	return []Event{{Reason: EventRefreshNowMerged, Job: merged, Note: fmt.Sprintf("%s=%s %s", deployv1alpha1.AnnotationRefreshNow, token, msg)}}
}

// waiting tells whether the answer in prev is a token other than token
// waiting behind a running Job: a new token then replaces it.
func waiting(prev deployv1alpha1.DatabaseRefreshStatus, token string) bool {
	old := answerOf(prev)
	return old != nil && old.Value != token && prev.LastRefreshNowToken != old.Value
}

func answerOf(st deployv1alpha1.DatabaseRefreshStatus) *deployv1alpha1.ActionStatus {
	for i := range st.Actions {
		if st.Actions[i].Annotation == deployv1alpha1.AnnotationRefreshNow {
			return &st.Actions[i]
		}
	}
	return nil
}
