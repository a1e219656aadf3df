package controllers

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshjob"
)

// reconcileChildren brings the sanitize ConfigMap and the CronJob to the
// spec. It returns the rendered CronJob (nil when blocked) and the stored
// one (nil when there is none). A spec that cannot be acted on (unparseable
// schedule, unknown zone, missing sanitize ConfigMap, a foreign CronJob of
// the same name) is recorded in obs.Blocked and leaves the children as they
// were: dev must never be refreshed without its sanitize SQL. Sets Ready and
// Degraded with InvalidSpec through obs.Blocked.
func (r *DatabaseRefreshReconciler) reconcileChildren(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, obs *refreshjob.Observation) (desired, stored *batchv1.CronJob, err error) {
	stored = &batchv1.CronJob{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: dr.Namespace, Name: refreshjob.CronJobName(dr)}, stored); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("cannot get CronJob: %w", err)
		}
		stored = nil
	}
	if stored != nil && stored.Status.LastScheduleTime != nil {
		t := stored.Status.LastScheduleTime.Time
		obs.CronJobLastSchedule = &t
	}

	sched, err := refreshjob.Validate(dr)
	if err != nil {
		obs.Blocked = err
		return nil, stored, nil
	}
	obs.Schedule = &sched
	if stored != nil && !metav1.IsControlledBy(stored, dr) {
		obs.Blocked = &refreshjob.InvalidSpecError{Message: fmt.Sprintf(
			"CronJob %s exists and is not controlled by this DatabaseRefresh: rename one of them", stored.Name)}
		return nil, nil, nil
	}
	data, err := r.sanitizeData(ctx, dr)
	if err != nil {
		if invalid := (*refreshjob.InvalidSpecError)(nil); errors.As(err, &invalid) {
			obs.Blocked = err
			return nil, stored, nil
		}
		return nil, nil, err
	}
	if err := r.applyConfigMap(ctx, refreshjob.SanitizeConfigMap(dr, data)); err != nil {
		return nil, nil, err
	}
	desired = refreshjob.CronJob(dr, r.RunnerImage)
	if stored, err = r.applyCronJob(ctx, stored, desired); err != nil {
		return nil, nil, err
	}
	return desired, stored, nil
}

// sanitizeData reads the ConfigMaps spec.sanitize refers to, past the cache
// (ConfigMaps are watched by metadata only), and renders the sanitize data.
func (r *DatabaseRefreshReconciler) sanitizeData(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh) (map[string]string, error) {
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
	return refreshjob.SanitizeData(dr.Spec.Sanitize, refs)
}

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

// reconcileRefreshNow starts one Job for a new refresh-now token, from the
// CronJob's job template. It waits while the spec is blocked or a scheduled
// refresh runs (two refreshes of one database must not overlap), merges
// the token into a refresh-now that runs (refreshjob.MergeInto), and
// records the token once its Job exists or it was merged, or the Job it
// waits behind.
func (r *DatabaseRefreshReconciler) reconcileRefreshNow(ctx context.Context, dr *deployv1alpha1.DatabaseRefresh, cj *batchv1.CronJob, jobs map[string]*batchv1.Job, obs *refreshjob.Observation) error {
	token := dr.Annotations[deployv1alpha1.AnnotationRefreshNow]
	if token == "" || token == dr.Status.LastRefreshNowToken {
		return nil
	}
	obs.RefreshNowRequested = token
	name := refreshjob.NowJobName(dr, token)
	if _, exists := jobs[name]; exists {
		obs.RefreshNowToken, obs.RefreshNowJob = token, name
		return nil
	}
	active := refreshjob.NewestActive(obs.Jobs)
	if into := refreshjob.MergeInto(active); into != "" {
		obs.RefreshNowToken, obs.RefreshNowMergedInto = token, into
		return nil
	}
	if active != nil {
		obs.RefreshNowQueuedBehind = active.Name
		return nil // its end wakes us
	}
	if cj == nil {
		return nil // a spec change wakes us
	}
	job := refreshjob.NowJob(dr, cj, token)
	if err := r.Create(ctx, job); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot create refresh-now Job: %w", err)
		}
		obs.RefreshNowToken, obs.RefreshNowJob = token, job.Name
		return nil
	}
	jobs[job.Name] = job
	obs.Jobs = append(obs.Jobs, refreshjob.ObserveJob(job, true))
	obs.RefreshNowToken, obs.RefreshNowJob = token, job.Name
	return nil
}
