package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/metrics"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// A reconcile of a SiteDeployment is a list of named steps with one
// signature: observe, observe the database, decide, then the plan's
// stages in bluegreen.Stages' order (the planner's simulator applies a
// plan by the same list). Each step reads and fills one siteRun; the first
// error stops the list, and result turns it into the reconcile's result in
// one place.

// siteRun is one reconcile of a site.
type siteRun struct {
	site     *v1.SiteDeployment
	observed bluegreen.Observed
	plan     bluegreen.Plan
	// admin is the database server's admin connection settings (zero
	// without spec.database).
	admin postgres.Conn
	// revisions are the site's stored revisions, listed once by observe.
	revisions map[string]*appsv1.ControllerRevision
	started   time.Time
}

// databaseError marks the error of a step on the site's database server:
// status says so (bluegreen.DatabaseFailed) before the reconcile is
// retried.
type databaseError struct{ err error }

func (e databaseError) Error() string { return e.err.Error() }
func (e databaseError) Unwrap() error { return e.err }

func onDatabase(err error) error {
	if err == nil {
		return nil
	}
	return databaseError{err}
}

// siteSteps is the list, built once: the decision, then one step per
// stage of bluegreen.Stages.
func (r *SiteDeploymentReconciler) siteSteps() ([]step[*siteRun], error) {
	steps := []step[*siteRun]{
		{"Observe", r.observeStep},
		{"ObserveDatabase", r.observeDatabaseStep},
		{"Decide", r.decideStep},
	}
	stages := map[bluegreen.Stage]func(context.Context, *siteRun) error{
		bluegreen.StageDatabase: func(ctx context.Context, run *siteRun) error {
			return onDatabase(r.runDatabaseSteps(ctx, run.site, run.admin, run.plan.Status.Database, run.plan.DatabaseSteps))
		},
		bluegreen.StageDatabaseSecrets: func(ctx context.Context, run *siteRun) error {
			if run.plan.Status.Database == nil {
				return nil
			}
			return onDatabase(r.writeDatabaseSecrets(ctx, run.site, run.admin, &run.plan))
		},
		bluegreen.StageDeleteJobs: func(ctx context.Context, run *siteRun) error {
			return r.deleteJobs(ctx, run.site, run.plan.DeleteJobs)
		},
		bluegreen.StageSwitchDatabase: func(ctx context.Context, run *siteRun) error {
			return onDatabase(r.runDatabaseSteps(ctx, run.site, run.admin, run.plan.Status.Database, run.plan.SwitchSteps))
		},
		bluegreen.StageObjects: r.apply,
		bluegreen.StageAfterSwitch: func(ctx context.Context, run *siteRun) error {
			return onDatabase(r.runDatabaseSteps(ctx, run.site, run.admin, run.plan.Status.Database, run.plan.AfterSwitchSteps))
		},
		bluegreen.StageStatus: r.recordStep,
	}
	for _, s := range bluegreen.Stages {
		run, ok := stages[s]
		if !ok {
			return nil, fmt.Errorf("no step applies the plan's stage %s", s)
		}
		steps = append(steps, step[*siteRun]{string(s), run})
	}
	return steps, nil
}

// runSteps runs the list on run until a step fails.
func (r *SiteDeploymentReconciler) runSteps(ctx context.Context, run *siteRun) (ctrl.Result, error) {
	if failed, err := runSteps(ctx, r.steps, run); err != nil {
		return r.result(ctx, run, failed, err)
	}
	return ctrl.Result{RequeueAfter: run.plan.RequeueAfter}, nil
}

// result turns a step's error into the reconcile's result: a cache behind
// the API server is retried shortly and quietly; a database error is
// reported in status, then retried with backoff; any other is retried
// with backoff.
func (r *SiteDeploymentReconciler) result(ctx context.Context, run *siteRun, step string, err error) (ctrl.Result, error) {
	var dbErr databaseError
	switch {
	case errors.Is(err, errCacheBehind):
		return ctrl.Result{RequeueAfter: cacheBehindRetry}, nil
	case errors.As(err, &dbErr):
		st := bluegreen.DatabaseFailed(run.site, dbErr.err, r.Clock.Now())
		perr := r.patchStatus(ctx, run.site, func(s *v1.SiteDeploymentStatus) { *s = st })
		return ctrl.Result{}, errors.Join(fmt.Errorf("%s: %w", step, err), perr)
	default:
		return ctrl.Result{}, fmt.Errorf("%s: %w", step, err)
	}
}

func (r *SiteDeploymentReconciler) observeStep(ctx context.Context, run *siteRun) error {
	var err error
	if run.observed, run.revisions, err = r.observe(ctx, run.site); err != nil {
		return err
	}
	run.observed.Measurements = r.measure(ctx, run.site, run.observed.Now)
	return nil
}

func (r *SiteDeploymentReconciler) observeDatabaseStep(ctx context.Context, run *siteRun) error {
	var err error
	run.observed.Database, run.admin, err = r.observeDatabase(ctx, run.site)
	return onDatabase(err)
}

// decideStep asks the planner, and again once it has the registry's
// answer when it asked for one. The planner decides on the site as read
// (a copy: the cache's reads are deep copies).
func (r *SiteDeploymentReconciler) decideStep(ctx context.Context, run *siteRun) error {
	run.plan = bluegreen.Decide(run.observed)
	if run.plan.Resolve != nil {
		run.observed.Resolved = r.resolve(ctx, run.site, run.plan.Resolve)
		run.plan = bluegreen.Decide(run.observed)
	}
	return nil
}

// recordStep writes the decided status, sends its events and counts what
// it ended.
func (r *SiteDeploymentReconciler) recordStep(ctx context.Context, run *siteRun) error {
	before := run.site.Status.DeepCopy()
	if err := r.patchStatus(ctx, run.site, func(st *v1.SiteDeploymentStatus) { *st = run.plan.Status }); err != nil {
		return err
	}
	for _, e := range run.plan.Events {
		r.event(run.site, e.Warning, e.Reason, "%s", e.Note)
	}
	r.Metrics.ObserveSite(metrics.SiteWrite{Namespace: run.site.Namespace, Name: run.site.Name, Before: before, After: &run.site.Status,
		Ended: run.plan.Ended, Switched: run.plan.Switched, Started: run.started, Written: time.Now(), Now: run.observed.Now})
	return nil
}
