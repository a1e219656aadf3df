package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// copies runs the database copies of schema-changing releases in the
// background, at most one per site, so a copy of any size never holds a
// reconcile worker. A finished copy wakes its site. Nothing here must
// survive a restart: dbrelease.Clone keeps its progress in the server and
// redoes a half-done copy, and the planner asks again.
type copies struct {
	mu   sync.Mutex
	runs map[types.NamespacedName]*copyRun
	// done receives the site of each finished copy.
	done chan event.GenericEvent
	// analyses are the ANALYZEs after a switch, by site and database;
	// stopAll cancels them (autovacuum analyzes a live copy later) and
	// waits for them on all.
	analyses map[analysis]context.CancelFunc
	all      sync.WaitGroup
}

type analysis struct {
	site types.NamespacedName
	db   string
}

// copyID tells one copy of a site from another: a rehearsal, the final
// copy and a replica of one release have the same names.
type copyID struct {
	To, From, Revision string
	Rehearsal, Replica bool
}

func cloneID(s dbrelease.CloneSpec) copyID {
	return copyID{To: s.To, From: s.From, Revision: s.Revision, Rehearsal: s.Rehearsal}
}

type copyRun struct {
	id       copyID
	cancel   context.CancelFunc
	finished chan struct{}
	err      error // set before finished is closed
}

func newCopies() *copies {
	return &copies{runs: map[types.NamespacedName]*copyRun{}, done: make(chan event.GenericEvent, 64), analyses: map[analysis]context.CancelFunc{}}
}

// state reports whether the copy id of a site is running, and why it
// failed if it did.
func (c *copies) state(site types.NamespacedName, id copyID) (running bool, failed string) {
	c.mu.Lock()
	run := c.runs[site]
	c.mu.Unlock()
	if run == nil || run.id != id {
		return false, ""
	}
	select {
	case <-run.finished:
		if run.err != nil {
			return false, run.err.Error()
		}
		return false, ""
	default:
		return true, ""
	}
}

// start begins the copy unless the same one is running or has failed (its
// error stays until stop); another copy of the site is stopped first. The
// copy is analyzed before it is reported done unless analyzeLater.
func (c *copies) start(site *v1.SiteDeployment, admin postgres.Conn, spec dbrelease.CloneSpec, analyzeLater bool) {
	c.run(site, cloneID(spec), func(ctx context.Context) ([]any, error) {
		res, err := dbrelease.Clone(ctx, admin, spec)
		var analyzed time.Duration
		if err == nil && !analyzeLater {
			start := time.Now()
			err = dbrelease.Analyze(ctx, admin, spec.To)
			analyzed = time.Since(start)
		}
		return []any{"took", res.Took, "analyze", analyzed, "reused", res.Reused, "redone", res.Redone}, err
	})
}

// startReplica makes spec.To follow spec.From until every table is copied
// (dbrelease.Replicate), in the background like a copy.
func (c *copies) startReplica(site *v1.SiteDeployment, admin postgres.Conn, spec dbrelease.ReplicaSpec) {
	id := copyID{To: spec.To, From: spec.From, Revision: spec.Revision, Replica: true}
	c.run(site, id, func(ctx context.Context) ([]any, error) {
		start := time.Now()
		err := dbrelease.Replicate(ctx, admin, spec)
		return []any{"replicated", true, "took", time.Since(start)}, err
	})
}

// run runs work as the site's copy id, unless it runs or failed already;
// a finished run wakes the site.
func (c *copies) run(site *v1.SiteDeployment, id copyID, work func(context.Context) ([]any, error)) {
	key := types.NamespacedName{Namespace: site.Namespace, Name: site.Name}
	c.mu.Lock()
	if run := c.runs[key]; run != nil {
		if run.id == id {
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.stop(key)
		c.mu.Lock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &copyRun{id: id, cancel: cancel, finished: make(chan struct{})}
	c.runs[key] = run
	c.mu.Unlock()
	wake := site.DeepCopy()
	go func() {
		defer cancel()
		log := ctrl.Log.WithName("copy").WithValues("sitedeployment", key, "from", id.From, "to", id.To)
		kv, err := work(ctx)
		if err != nil {
			log.Error(err, "copy failed")
			run.err = err
		} else {
			log.Info("copy done", kv...)
			c.forget(key, run)
		}
		close(run.finished)
		if ctx.Err() == nil {
			c.done <- event.GenericEvent{Object: wake}
		}
	}()
}

// stop cancels a site's copy, waits for it to end and forgets it.
func (c *copies) stop(site types.NamespacedName) {
	c.mu.Lock()
	run := c.runs[site]
	delete(c.runs, site)
	c.mu.Unlock()
	if run != nil {
		run.cancel()
		<-run.finished
	}
}

// analyze runs ANALYZE on a site's database db in the background, one at
// a time. A failure is only logged: autovacuum analyzes a copy too, a
// minute or so later.
func (c *copies) analyze(site *v1.SiteDeployment, admin postgres.Conn, db string) {
	key := analysis{site: client.ObjectKeyFromObject(site), db: db}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, running := c.analyses[key]; running {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.analyses[key] = cancel
	c.all.Add(1)
	log := ctrl.Log.WithName("copy").WithValues("sitedeployment", key.site, "database", db)
	go func() {
		defer c.all.Done()
		start := time.Now()
		if err := dbrelease.Analyze(ctx, admin, db); err != nil {
			log.Error(err, "ANALYZE after the switch failed; autovacuum will analyze it")
		} else {
			log.Info("analyzed after the switch", "took", time.Since(start))
		}
		c.mu.Lock()
		delete(c.analyses, key)
		c.mu.Unlock()
		cancel()
	}()
}

// stopAll cancels every copy and analysis and waits for them to end.
func (c *copies) stopAll() {
	c.mu.Lock()
	for _, cancel := range c.analyses {
		cancel()
	}
	c.mu.Unlock()
	defer c.all.Wait()
	c.mu.Lock()
	var keys []types.NamespacedName
	for k := range c.runs {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.stop(k)
	}
}

func (c *copies) forget(site types.NamespacedName, run *copyRun) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs[site] == run {
		delete(c.runs, site)
	}
}
