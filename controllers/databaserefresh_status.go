package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/poddiag"
	"github.com/understudy-dev/understudy/internal/refreshjob"
)

// observeJobs lists the refresh Jobs: those controlled by the CronJob and
// the refresh-now Jobs controlled by the DatabaseRefresh.
func (r *DatabaseRefreshReconciler) observeJobs(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, cj *batchv1.CronJob, obs *refreshjob.Observation) (map[string]*batchv1.Job, error) {
	var list batchv1.JobList
	if err := r.List(ctx, &list, client.InNamespace(dr.Namespace),
		client.MatchingLabels{deployv1alpha1.LabelRefresh: dr.Name}); err != nil {
		return nil, fmt.Errorf("cannot list refresh Jobs: %w", err)
	}
	jobs := map[string]*batchv1.Job{}
	for i := range list.Items {
		job := &list.Items[i]
		ref := metav1.GetControllerOf(job)
		switch {
		case ref == nil:
			continue
		case ref.UID == dr.UID:
			obs.Jobs = append(obs.Jobs, refreshjob.ObserveJob(job, true))
		case cj != nil && ref.UID == cj.UID:
			obs.Jobs = append(obs.Jobs, refreshjob.ObserveJob(job, false))
		default:
			continue
		}
		jobs[job.Name] = job
	}
	return jobs, nil
}

// readFinished reads the runner's result of the newest finished Job, when
// the status does not describe it yet, from its pods' termination messages.
func (r *DatabaseRefreshReconciler) readFinished(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, jobs map[string]*batchv1.Job, obs *refreshjob.Observation) error {
	newest := refreshjob.NewestFinished(obs.Jobs)
	if !refreshjob.IsUnrecorded(newest, dr.Status.LastRefresh) {
		return nil
	}
	pods, err := jobPods(ctx, r.Reader, jobs[newest.Name])
	if err != nil {
		return err
	}
	res, _ := refreshjob.ResultFromPods(pods)
	obs.Finished = &refreshjob.Finished{Job: *newest, Result: res}
	return nil
}

// readActive reads, from its pods, why the running refresh Job cannot
// start or failed an attempt, so that the status says so while it runs.
func (r *DatabaseRefreshReconciler) readActive(ctx context.Context, jobs map[string]*batchv1.Job, obs *refreshjob.Observation) error {
	active := refreshjob.NewestActive(obs.Jobs)
	if active == nil || jobs[active.Name] == nil {
		return nil
	}
	pods, err := jobPods(ctx, r.Reader, jobs[active.Name])
	if err != nil {
		return err
	}
	if pr, ok := poddiag.Newest(pods, obs.Now); ok {
		active.Problem = pr.String()
	}
	return nil
}

// restartSite asks the SiteDeployment to restart its pods so that they
// reconnect to the new copy: a merge patch of one annotation, never its
// spec. The value is the finish time of the refresh, so a repeated patch
// for the same refresh changes nothing.
func (r *DatabaseRefreshReconciler) restartSite(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, at time.Time) error {
	name := dr.Spec.SiteDeploymentRef.Name
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		deployv1alpha1.AnnotationRestartedAt: at.UTC().Format(time.RFC3339),
	}}})
	if err != nil {
		return fmt.Errorf("cannot encode the restart patch: %w", err)
	}
	sd := &deployv1alpha1.SiteDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: dr.Namespace, Name: name}}
	if err := r.Patch(ctx, sd, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			r.Recorder.Eventf(dr, nil, corev1.EventTypeWarning, refreshjob.EventRestartSkipped, refreshjob.EventActionRefresh,
				"SiteDeployment %s not found: nothing to restart after the refresh", name)
			return nil
		}
		return fmt.Errorf("cannot ask SiteDeployment %s to restart: %w", name, err)
	}
	return nil
}

// writeStatus writes st as the DatabaseRefresh's status (patchStatus). It
// tells whether the DatabaseRefresh still exists: one deleted meanwhile
// needs nothing more.
func (r *DatabaseRefreshReconciler) writeStatus(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, st deployv1alpha1.DatabaseRefreshStatus) (bool, error) {
	err := patchStatus(ctx, r.Client, &r.written, dr, func(d *deployv1alpha1.DatabaseRefresh) { d.Status = st })
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (r *DatabaseRefreshReconciler) recordEvents(dr *deployv1alpha1.DatabaseRefresh, evs []refreshjob.Event, jobs map[string]*batchv1.Job) {
	for _, ev := range evs {
		var related runtime.Object
		if job, ok := jobs[ev.Job]; ok {
			related = job
		}
		kind := corev1.EventTypeNormal
		if ev.Warning {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(dr, related, kind, ev.Reason, refreshjob.EventActionRefresh, "%s", ev.Note)
	}
}

// pruneNowJobs deletes refresh-now Jobs beyond the history limits, as the
// CronJob controller does for its own.
func (r *DatabaseRefreshReconciler) pruneNowJobs(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, jobs []refreshjob.ObservedJob, recorded *deployv1alpha1.RefreshRecord) error {
	names := refreshjob.NowJobsToPrune(jobs, recorded, dr.Spec.SuccessfulJobsHistoryLimit, dr.Spec.FailedJobsHistoryLimit)
	for _, name := range names {
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: dr.Namespace, Name: name}}
		if err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("cannot delete old refresh-now Job %s: %w", name, err)
		}
	}
	return nil
}
