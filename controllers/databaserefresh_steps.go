package controllers

import (
	"context"
	"errors"

	batchv1 "k8s.io/api/batch/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshjob"
)

// refreshRun is one reconcile of a DatabaseRefresh.
type refreshRun struct {
	dr       *deployv1alpha1.DatabaseRefresh
	observed refreshjob.Observed
	plan     refreshjob.Plan
	// jobs are the refresh Jobs by name (events name the one they are
	// about), the planned refresh-now Job once created.
	jobs map[string]*batchv1.Job
}

// errRefreshGone: the DatabaseRefresh was deleted during the reconcile;
// nothing more needs doing.
var errRefreshGone = errors.New("the DatabaseRefresh is gone")

// refreshSteps apply a refresh's plan, in order.
func (r *DatabaseRefreshReconciler) refreshSteps() []step[*refreshRun] {
	return []step[*refreshRun]{
		{"SanitizeConfigMap", func(ctx context.Context, run *refreshRun) error {
			if run.plan.ConfigMap == nil {
				return nil
			}
			return r.applyConfigMap(ctx, run.plan.ConfigMap)
		}},
		{"CronJob", func(ctx context.Context, run *refreshRun) error {
			if run.plan.CronJob == nil {
				return nil
			}
			_, err := r.applyCronJob(ctx, run.observed.CronJob, run.plan.CronJob)
			return err
		}},
		{"RefreshNowJob", r.createNowJob},
		{"RestartSite", func(ctx context.Context, run *refreshRun) error {
			if run.plan.RestartAt == nil {
				return nil
			}
			return r.restartSite(ctx, run.dr, *run.plan.RestartAt)
		}},
		{"Status", r.recordRefresh},
		{"PruneJobs", r.pruneNowJobs},
	}
}

// recordRefresh writes the planned status, counts it and sends its
// events; errRefreshGone when the refresh was deleted meanwhile.
func (r *DatabaseRefreshReconciler) recordRefresh(ctx context.Context, run *refreshRun) error {
	dr := run.dr
	before := dr.Status.DeepCopy()
	if exists, err := r.writeStatus(ctx, dr, run.plan.Status); err != nil {
		return err
	} else if !exists {
		return errRefreshGone
	}
	r.Metrics.ObserveRefresh(dr.Namespace, dr.Name, before, &run.plan.Status)
	r.recordEvents(dr, run.plan.Events, run.jobs)
	return nil
}
