package refreshjob

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Observed is what the controller read of a DatabaseRefresh and its
// children; reading it wrote nothing.
type Observed struct {
	Refresh     *deployv1alpha1.DatabaseRefresh
	Now         time.Time
	RunnerImage string
	// CronJob is the stored CronJob of the refresh's name; nil: none.
	CronJob *batchv1.CronJob
	// SanitizeConfigMaps are the data of the ConfigMaps spec.sanitize
	// reads, by name; a missing one is absent.
	SanitizeConfigMaps map[string]map[string]string
	// Jobs are the refresh Jobs (the refresh's own and its CronJob's),
	// an active one with its pods' problem.
	Jobs []ObservedJob
	// Finished is the newest finished Job when status does not describe
	// it yet, with the runner's result read from its pods.
	Finished *Finished
}

// Decide is everything a reconcile of a DatabaseRefresh does, decided on
// what was observed: the sanitize ConfigMap and the CronJob to bring to
// the spec (none while the spec is blocked: dev must never be refreshed
// without its sanitize SQL), the refresh-now Job to start, the Jobs to
// prune, the site to restart, and the status and events.
func Decide(o Observed) Plan {
	dr := o.Refresh
	obs := Observation{Now: o.Now, Generation: dr.Generation, Suspend: dr.Spec.Suspend, Jobs: o.Jobs, Finished: o.Finished}
	if ref := dr.Spec.SiteDeploymentRef; ref != nil {
		obs.SiteDeployment = ref.Name
	}
	if cj := o.CronJob; cj != nil && cj.Status.LastScheduleTime != nil {
		t := cj.Status.LastScheduleTime.Time
		obs.CronJobLastSchedule = &t
	}
	configMap, cronJob := children(o, &obs)
	nowJob := refreshNow(dr, cronJob, &obs)
	p := PlanStatus(dr.Status, obs)
	p.ConfigMap, p.CronJob, p.NowJob = configMap, cronJob, nowJob
	p.PruneJobs = NowJobsToPrune(obs.Jobs, p.Status.LastRefresh, dr.Spec.SuccessfulJobsHistoryLimit, dr.Spec.FailedJobsHistoryLimit)
	return p
}

// children renders the sanitize ConfigMap and the CronJob, or records in
// obs.Blocked why the spec cannot be acted on (an unparseable schedule, an
// unknown zone, a missing sanitize ConfigMap or key, a CronJob of the same
// name that another object controls); then both are left as they are.
func children(o Observed, obs *Observation) (*corev1.ConfigMap, *batchv1.CronJob) {
	dr := o.Refresh
	sched, err := Validate(dr)
	if err != nil {
		obs.Blocked = err
		return nil, nil
	}
	obs.Schedule = &sched
	if o.CronJob != nil && !metav1.IsControlledBy(o.CronJob, dr) {
		obs.Blocked = &InvalidSpecError{Message: fmt.Sprintf(
			"CronJob %s exists and is not controlled by this DatabaseRefresh: rename one of them", o.CronJob.Name)}
		return nil, nil
	}
	data, err := SanitizeData(dr.Spec.Sanitize, o.SanitizeConfigMaps)
	if err != nil {
		obs.Blocked = err
		return nil, nil
	}
	return SanitizeConfigMap(dr, data), CronJob(dr, o.RunnerImage)
}

// refreshNow acts on a new refresh-now token: the Job to start for it, from
// the CronJob's job template; none while the spec is blocked or a refresh
// runs (two refreshes of one database must not overlap: the token is
// merged into a running refresh-now (MergeInto), or waits behind the
// running Job).
func refreshNow(dr *deployv1alpha1.DatabaseRefresh, cronJob *batchv1.CronJob, obs *Observation) *batchv1.Job {
	token := dr.Annotations[deployv1alpha1.AnnotationRefreshNow]
	if token == "" || token == dr.Status.LastRefreshNowToken {
		return nil
	}
	obs.RefreshNowRequested = token
	name := NowJobName(dr, token)
	for _, j := range obs.Jobs {
		if j.Name == name {
			obs.RefreshNowToken, obs.RefreshNowJob = token, name
			return nil
		}
	}
	active := NewestActive(obs.Jobs)
	if into := MergeInto(active); into != "" {
		obs.RefreshNowToken, obs.RefreshNowMergedInto = token, into
		return nil
	}
	if active != nil {
		obs.RefreshNowQueuedBehind = active.Name
		return nil // its end wakes the refresh
	}
	if cronJob == nil {
		return nil // a spec change wakes the refresh
	}
	job := NowJob(dr, cronJob, token)
	obs.Jobs = append(obs.Jobs, ObserveJob(job, true))
	obs.RefreshNowToken, obs.RefreshNowJob = token, job.Name
	return job
}
