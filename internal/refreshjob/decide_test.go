package refreshjob

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A spec that can be acted on brings both children to it; one that cannot
// leaves them as they are and says why; a CronJob of the same name that
// another object controls is never taken over.
func TestDecideBringsTheChildrenToTheSpecOrSaysWhyNot(t *testing.T) {
	dr := backupRefresh()
	p := Decide(Observed{Refresh: dr, Now: t0, RunnerImage: "runner:1"})
	if p.CronJob == nil || p.ConfigMap == nil || p.CronJob.Spec.Schedule != "0 3 * * *" {
		t.Fatalf("cronjob %v configmap %v", p.CronJob, p.ConfigMap)
	}

	dr.Spec.Sanitize = []deployv1alpha1.SanitizeStep{{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "scrub"}, Key: "users.sql"}}}
	p = Decide(Observed{Refresh: dr, Now: t0, RunnerImage: "runner:1"})
	if p.CronJob != nil || p.ConfigMap != nil || !strings.Contains(readyMessage(p), `ConfigMap "scrub" not found`) {
		t.Fatalf("a missing sanitize ConfigMap: cronjob %v configmap %v, message %q", p.CronJob, p.ConfigMap, readyMessage(p))
	}

	dr = backupRefresh()
	foreign := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: dr.Name, Namespace: dr.Namespace,
		OwnerReferences: []metav1.OwnerReference{{UID: "someone-else", Controller: ptr.To(true), Kind: "Thing", Name: "x"}}}}
	p = Decide(Observed{Refresh: dr, Now: t0, RunnerImage: "runner:1", CronJob: foreign})
	if p.CronJob != nil || !strings.Contains(readyMessage(p), "not controlled by this DatabaseRefresh") {
		t.Fatalf("a foreign CronJob: cronjob %v, message %q", p.CronJob, readyMessage(p))
	}
}

// A new refresh-now token starts one Job when nothing runs, waits behind a
// running scheduled refresh, and starts nothing when its Job exists.
func TestDecideStartsOneRefreshNowJob(t *testing.T) {
	dr := backupRefresh()
	dr.Annotations = map[string]string{deployv1alpha1.AnnotationRefreshNow: "a"}
	p := Decide(Observed{Refresh: dr, Now: t0, RunnerImage: "runner:1"})
	if p.NowJob == nil || p.NowJob.Name != NowJobName(dr, "a") || p.Status.LastRefreshNowToken != "a" {
		t.Fatalf("job %v, token %q", p.NowJob, p.Status.LastRefreshNowToken)
	}

	running := []ObservedJob{{Name: "nightly-1", State: JobActive, Start: t0}}
	p = Decide(Observed{Refresh: dr, Now: t0, RunnerImage: "runner:1", Jobs: running})
	if p.NowJob != nil || p.Status.RefreshNowQueuedBehind != "nightly-1" {
		t.Fatalf("behind a scheduled refresh: job %v, queued behind %q", p.NowJob, p.Status.RefreshNowQueuedBehind)
	}

	exists := []ObservedJob{{Name: NowJobName(dr, "a"), Now: true, State: JobActive, Start: t0}}
	p = Decide(Observed{Refresh: dr, Now: t0, RunnerImage: "runner:1", Jobs: exists})
	if p.NowJob != nil || p.Status.LastRefreshNowToken != "a" {
		t.Fatalf("its Job exists: job %v, token %q", p.NowJob, p.Status.LastRefreshNowToken)
	}
}

// readyMessage is the Ready condition's message, where kubectl shows why.
func readyMessage(p Plan) string {
	if c := meta.FindStatusCondition(p.Status.Conditions, deployv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}
