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
	"github.com/understudy-dev/understudy/internal/refreshjob"
)

func (r *DatabaseRefreshReconciler) applyConfigMap(ctx context.Context, desired *corev1.ConfigMap) error {
	stored := &corev1.ConfigMap{}
	err := r.Reader.Get(ctx, client.ObjectKeyFromObject(desired), stored)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Create(ctx, desired); err != nil {
			return fmt.Errorf("cannot create sanitize ConfigMap: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("cannot get sanitize ConfigMap: %w", err)
	}
	if ref := metav1.GetControllerOf(stored); ref != nil && ref.UID != desired.OwnerReferences[0].UID {
		return fmt.Errorf("cannot take over ConfigMap %s: it is controlled by %s %s", stored.Name, ref.Kind, ref.Name)
	}
	if !refreshjob.ConfigMapNeedsUpdate(stored, desired) {
		return nil
	}
	refreshjob.MergeConfigMap(stored, desired)
	if err := r.Update(ctx, stored); err != nil {
		return fmt.Errorf("cannot update sanitize ConfigMap: %w", err)
	}
	return nil
}

// applyCronJob creates the CronJob or updates it when it differs from the
// rendering; an idle resync writes nothing.
func (r *DatabaseRefreshReconciler) applyCronJob(ctx context.Context, stored, desired *batchv1.CronJob) (*batchv1.CronJob, error) {
	if stored == nil {
		created := desired.DeepCopy()
		err := r.Create(ctx, created)
		if err == nil {
			return created, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("cannot create CronJob: %w", err)
		}
		// Created by an earlier pass the cache has not seen yet.
		stored = &batchv1.CronJob{}
		if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(desired), stored); err != nil {
			return nil, fmt.Errorf("cannot get CronJob: %w", err)
		}
	}
	if !refreshjob.CronJobNeedsUpdate(stored, desired) {
		return stored, nil
	}
	updated := stored.DeepCopy()
	refreshjob.MergeCronJob(updated, desired)
	if err := r.Update(ctx, updated); err != nil {
		return nil, fmt.Errorf("cannot update CronJob: %w", err)
	}
	return updated, nil
}

// createNowJob starts the planned refresh-now Job; one that exists already
// was created by an earlier pass the cache has not seen yet.
func (r *DatabaseRefreshReconciler) createNowJob(ctx context.Context, run *refreshRun) error {
	job := run.plan.NowJob
	if job == nil {
		return nil
	}
	if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create refresh-now Job: %w", err)
	}
	run.jobs[job.Name] = job
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

// pruneNowJobs deletes the refresh-now Jobs the plan prunes (beyond the
// history limits, as the CronJob controller does for its own).
func (r *DatabaseRefreshReconciler) pruneNowJobs(ctx context.Context, run *refreshRun) error {
	for _, name := range run.plan.PruneJobs {
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: run.dr.Namespace, Name: name}}
		if err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("cannot delete old refresh-now Job %s: %w", name, err)
		}
	}
	return nil
}
