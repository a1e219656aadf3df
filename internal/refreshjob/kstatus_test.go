package refreshjob

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

// Every state of a DatabaseRefresh, as kstatus (Flux, kubectl wait) reads
// it, with the conditions always in one order.
func TestEveryStateReadsAsKstatusExpects(t *testing.T) {
	dr := &deployv1alpha1.DatabaseRefresh{}
	dr.Generation = 1
	obs := Observation{Now: t0, Generation: 1, Schedule: schedule(t)}
	step := func(what string, want status.Status) {
		t.Helper()
		dr.Status = PlanStatus(dr.Status, obs).Status
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dr)
		if err != nil {
			t.Fatal(err)
		}
		res, err := status.Compute(&unstructured.Unstructured{Object: u})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != want {
			t.Fatalf("%s reads %s to kstatus (%s), want %s", what, res.Status, res.Message, want)
		}
		var order []string
		for _, c := range dr.Status.Conditions {
			order = append(order, c.Type)
		}
		if len(order) != 5 || order[0] != deployv1alpha1.ConditionReady || order[1] != deployv1alpha1.ConditionProgressing ||
			order[2] != deployv1alpha1.ConditionReconciling || order[3] != deployv1alpha1.ConditionDegraded || order[4] != deployv1alpha1.ConditionStalled {
			t.Fatalf("%s: condition order %v", what, order)
		}
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	step("scheduled, before the first refresh", status.CurrentStatus)
	first := ObservedJob{Name: "r-1", State: JobActive, Start: at(time.Minute)}
	obs.Now, obs.Jobs = at(time.Minute), []ObservedJob{first}
	step("the first refresh running", status.InProgressStatus)
	first.State, first.Finish = JobSucceeded, at(10*time.Minute)
	obs.Now, obs.Jobs = at(11*time.Minute), []ObservedJob{first}
	obs.Finished = &Finished{Job: first, Result: &refreshwire.Result{Result: refreshwire.Succeeded}}
	step("succeeded", status.CurrentStatus)

	second := ObservedJob{Name: "r-2", State: JobActive, Start: at(time.Hour), Problem: "ImagePullBackOff"}
	obs.Now, obs.Finished, obs.Jobs = at(time.Hour), nil, []ObservedJob{first, second}
	step("a refresh running whose pod cannot start", status.InProgressStatus)
	second.State, second.Finish, second.Problem = JobFailed, at(2*time.Hour), ""
	obs.Now, obs.Jobs = at(2*time.Hour), []ObservedJob{first, second}
	obs.Finished = &Finished{Job: second, Result: &refreshwire.Result{Result: refreshwire.Failed, Error: "no backup"}}
	step("failed", status.FailedStatus)

	third := ObservedJob{Name: "r-3", State: JobActive, Start: at(3 * time.Hour)}
	obs.Now, obs.Finished, obs.Jobs = at(3*time.Hour), nil, []ObservedJob{second, third}
	step("a retry running after a failure", status.InProgressStatus)
	third.State, third.Finish = JobSucceeded, at(4*time.Hour)
	obs.Now, obs.Jobs = at(4*time.Hour), []ObservedJob{second, third}
	obs.Finished = &Finished{Job: third, Result: &refreshwire.Result{Result: refreshwire.Succeeded}}
	step("the retry succeeded", status.CurrentStatus)

	obs.Finished, obs.Suspend = nil, true
	step("suspended", status.CurrentStatus)
	obs.Suspend, obs.Schedule = false, nil
	_, obs.Blocked = ParseSchedule("0 3 * * *", ptr.To("Mars/Olympus"))
	dr.Generation, obs.Generation = 2, 2
	step("an invalid spec", status.FailedStatus)
}
