package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// DatabaseFinalizer lets a deleted SiteDeployment with spec.database
// leave its databases usable: a copy in progress is dropped and a frozen
// active database is made writable again. The databases themselves stay.
const DatabaseFinalizer = "deploy.understudy.dev/database"

// finalizeGiveUp is how long a deletion waits for an unreachable server
// before it goes ahead anyway, so a namespace deletion is never stuck.
const finalizeGiveUp = 5 * time.Minute

// ensureFinalizer adds DatabaseFinalizer to a site with spec.database;
// added is true when it wrote the object (its event brings it back).
func (r *SiteDeploymentReconciler) ensureFinalizer(ctx context.Context, site *v1.SiteDeployment) (added bool, err error) {
	if site.Spec.Database == nil || controllerutil.ContainsFinalizer(site, DatabaseFinalizer) {
		return false, nil
	}
	before := site.DeepCopy()
	controllerutil.AddFinalizer(site, DatabaseFinalizer)
	if err := r.Patch(ctx, site, client.MergeFrom(before)); err != nil {
		return false, fmt.Errorf("cannot add finalizer: %w", err)
	}
	return true, nil
}

// finalize runs for a deleted site: its databases are left writable, then
// the finalizer goes.
func (r *SiteDeploymentReconciler) finalize(ctx context.Context, site *v1.SiteDeployment) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(site)
	r.written.forget(key)
	if !controllerutil.ContainsFinalizer(site, DatabaseFinalizer) {
		return ctrl.Result{}, nil // owner references remove what it owns
	}
	r.copies.stop(key)
	if err := r.releaseDatabases(ctx, site); err != nil {
		if r.Clock.Since(site.DeletionTimestamp.Time) < finalizeGiveUp {
			return ctrl.Result{}, err
		}
		r.event(site, true, v1.EventDatabaseLeftFrozen, "gave up leaving the databases writable after %s: %v", finalizeGiveUp, err)
	}
	before := site.DeepCopy()
	controllerutil.RemoveFinalizer(site, DatabaseFinalizer)
	if err := r.Patch(ctx, site, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("cannot remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// releaseDatabases drops the copy of a release in progress and unfreezes
// the active database. A missing admin Secret (deleted with the namespace)
// leaves nothing to do.
func (r *SiteDeploymentReconciler) releaseDatabases(ctx context.Context, site *v1.SiteDeployment) error {
	d := site.Status.Database
	if site.Spec.Database == nil || d == nil || d.ActiveName == "" {
		return nil
	}
	admin, err := r.adminConn(ctx, site)
	if apierrors.IsNotFound(err) {
		r.event(site, true, v1.EventDatabaseLeftAsIs, "the admin Secret is gone; %s is left as it is", d.ActiveName)
		return nil
	}
	if err != nil {
		return err
	}
	if c := d.Candidate; c != nil {
		states, err := dbrelease.Statuses(ctx, admin, d.ActiveName, c.Name)
		if err != nil {
			return err
		}
		if bluegreen.CandidateCopyIsOurs(d, states[d.ActiveName], states[c.Name]) {
			if _, err := dbrelease.DropCopy(ctx, admin, c.Name); err != nil {
				return err
			}
		}
	}
	// A replication whose drop after its switch never ran (a restart).
	from := d.PreviousName
	if from == "" {
		from = d.ActiveName
	}
	for _, c := range []v1.Color{v1.Blue, v1.Green} {
		if err := dbrelease.DropReplication(ctx, admin, from, bluegreen.ColorDatabase(site.Spec.Database.Name, c)); err != nil {
			return err
		}
	}
	frozen, _, err := dbrelease.FreezeState(ctx, admin, d.ActiveName)
	if errors.Is(err, postgres.ErrNoDatabase) || err == nil && !frozen {
		return nil
	}
	if err != nil {
		return err
	}
	return dbrelease.Unfreeze(ctx, admin, d.ActiveName)
}
