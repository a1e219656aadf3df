package controllers

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/poddiag"
	"github.com/understudy-dev/understudy/internal/refreshjob"
)

// observe reads the DatabaseRefresh's children, the sanitize ConfigMaps
// and the runner's results; it writes nothing.
func (r *DatabaseRefreshReconciler) observe(ctx context.Context, run *refreshRun) error {
	dr := run.dr
	o := refreshjob.Observed{Refresh: dr, Now: r.Clock.Now(), RunnerImage: r.RunnerImage}
	cj := &batchv1.CronJob{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: dr.Namespace, Name: refreshjob.CronJobName(dr)}, cj); err == nil {
		o.CronJob = cj
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("cannot get CronJob: %w", err)
	}
	var err error
	if o.SanitizeConfigMaps, err = r.sanitizeConfigMaps(ctx, dr); err != nil {
		return err
	}
	ours := o.CronJob
	if ours != nil && !metav1.IsControlledBy(ours, dr) {
		ours = nil // its Jobs are not the refresh's (Decide says so)
	}
	if o.Jobs, run.jobs, err = r.observeJobs(ctx, dr, ours); err != nil {
		return err
	}
	if o.Finished, err = r.readFinished(ctx, dr, run.jobs, o.Jobs); err != nil {
		return err
	}
	if err := r.readActive(ctx, run.jobs, o.Jobs, o.Now); err != nil {
		return err
	}
	run.observed = o
	return nil
}

// sanitizeConfigMaps reads the ConfigMaps spec.sanitize refers to, past
// the cache (ConfigMaps are watched by metadata only): their data by name,
// a missing one absent.
func (r *DatabaseRefreshReconciler) sanitizeConfigMaps(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh) (map[string]map[string]string, error) {
	refs := map[string]map[string]string{}
	for _, name := range refreshjob.ReferencedConfigMaps(dr.Spec.Sanitize) {
		cm := &corev1.ConfigMap{}
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: dr.Namespace, Name: name}, cm); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("cannot get sanitize ConfigMap %s: %w", name, err)
		}
		refs[name] = cm.Data
		if refs[name] == nil {
			refs[name] = map[string]string{}
		}
	}
	return refs, nil
}

// observeJobs lists the refresh Jobs: those controlled by the CronJob and
// the refresh-now Jobs controlled by the DatabaseRefresh.
func (r *DatabaseRefreshReconciler) observeJobs(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, cj *batchv1.CronJob) ([]refreshjob.ObservedJob, map[string]*batchv1.Job, error) {
	var list batchv1.JobList
	if err := r.List(ctx, &list, client.InNamespace(dr.Namespace),
		client.MatchingLabels{deployv1alpha1.LabelRefresh: dr.Name}); err != nil {
		return nil, nil, fmt.Errorf("cannot list refresh Jobs: %w", err)
	}
	var observed []refreshjob.ObservedJob
	jobs := map[string]*batchv1.Job{}
	for i := range list.Items {
		job := &list.Items[i]
		ref := metav1.GetControllerOf(job)
		switch {
		case ref == nil:
			continue
		case ref.UID == dr.UID:
			observed = append(observed, refreshjob.ObserveJob(job, true))
		case cj != nil && ref.UID == cj.UID:
			observed = append(observed, refreshjob.ObserveJob(job, false))
		default:
			continue
		}
		jobs[job.Name] = job
	}
	return observed, jobs, nil
}

// readFinished reads the runner's result of the newest finished Job, when
// the status does not describe it yet, from its pods' termination messages.
func (r *DatabaseRefreshReconciler) readFinished(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, jobs map[string]*batchv1.Job, observed []refreshjob.ObservedJob) (*refreshjob.Finished, error) {
	newest := refreshjob.NewestFinished(observed)
	if !refreshjob.IsUnrecorded(newest, dr.Status.LastRefresh) {
		return nil, nil
	}
	pods, err := jobPods(ctx, r.Reader, jobs[newest.Name])
	if err != nil {
		return nil, err
	}
	res, _ := refreshjob.ResultFromPods(pods)
	return &refreshjob.Finished{Job: *newest, Result: res}, nil
}

// readActive reads, from its pods, why the running refresh Job cannot
// start or failed an attempt, so that the status says so while it runs.
func (r *DatabaseRefreshReconciler) readActive(ctx context.Context, jobs map[string]*batchv1.Job, observed []refreshjob.ObservedJob, now time.Time) error {
	active := refreshjob.NewestActive(observed)
	if active == nil || jobs[active.Name] == nil {
		return nil
	}
	pods, err := jobPods(ctx, r.Reader, jobs[active.Name])
	if err != nil {
		return err
	}
	if pr, ok := poddiag.Newest(pods, now); ok {
		active.Problem = pr.String()
	}
	return nil
}
