package controllers

import (
	"context"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// observeReplication reads what the planner needs of a Replicated
// cutover (bluegreen.NeedsReplication); nil when it needs nothing.
func observeReplication(ctx context.Context, site *v1.SiteDeployment, admin postgres.Conn, d *v1.DatabaseStatus) (*bluegreen.ReplicationObserved, error) {
	need := bluegreen.NeedsReplication(site)
	if need == (bluegreen.ReplicationNeeds{}) {
		return nil, nil
	}
	o := &bluegreen.ReplicationObserved{}
	var err error
	if need.Unsupported {
		if o.Unsupported, err = dbrelease.ReplicationUnsupported(ctx, admin, d.ActiveName); err != nil {
			return nil, err
		}
	}
	if c := d.Candidate; need.Replica {
		if o.Replica, err = dbrelease.ReplicaStatus(ctx, admin, c.Name); err != nil {
			return nil, err
		}
		if need.Conflicts && o.Replica.Subscribed {
			if o.Conflicts, err = dbrelease.ReplicaConflicts(ctx, admin, d.ActiveName, c.Name); err != nil {
				return nil, err
			}
		}
	}
	if need.Leftovers {
		base := site.Spec.Database.Name
		if o.Leftovers, err = dbrelease.ReplicationLeftovers(ctx, admin,
			bluegreen.ColorDatabase(base, v1.Blue), bluegreen.ColorDatabase(base, v1.Green)); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// catchUp runs a Replicated cutover's catch-up inside the freeze and
// returns the next database's counters after it, the baseline of
// writesSinceSwitch (the rows it applied are not the new side's writes).
func (r *SiteDeploymentReconciler) catchUp(ctx context.Context, site *v1.SiteDeployment, admin postgres.Conn, s bluegreen.DatabaseStep) (*v1.DatabaseCounters, error) {
	res, err := dbrelease.CatchUp(ctx, admin, s.From, s.Name, s.Timeout)
	if err != nil {
		return nil, err
	}
	if !res.Done {
		logf.FromContext(ctx).Info("caught up with the frozen live database", "database", s.Name, "waited", res.Waited.Round(time.Millisecond), "sequences", res.Sequences)
	}
	st := dbrelease.State{Name: s.Name}
	if err := dbrelease.ReadRows(ctx, admin, &st); err != nil {
		return nil, err
	}
	return bluegreen.Counters(st), nil
}
