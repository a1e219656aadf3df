package controllers

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// observeDatabase reads what the server says about the site's databases:
// every database status.database names and both color names, and, while
// status names none, every database of the site on the server (the
// planner adopts or creates the first one). It only reads. Nil without
// spec.database.
func (r *SiteDeploymentReconciler) observeDatabase(ctx context.Context, site *v1.SiteDeployment) (*bluegreen.DatabaseObserved, postgres.Conn, error) {
	d := bluegreen.DatabaseStatus(site)
	if d == nil {
		return nil, postgres.Conn{}, nil
	}
	admin, err := r.adminConn(ctx, site)
	if err != nil {
		return nil, admin, err
	}
	base := site.Spec.Database.Name
	names := []string{d.ActiveName, d.PreviousName, d.Blue, d.Green,
		bluegreen.ColorDatabase(base, v1.Blue), bluegreen.ColorDatabase(base, v1.Green)}
	var existing []string
	if d.ActiveName == "" {
		if existing, err = dbrelease.SiteDatabases(ctx, admin, base); err != nil {
			return nil, admin, err
		}
		names = append(names, existing...)
	}
	states, err := dbrelease.Statuses(ctx, admin, names...)
	if err != nil {
		return nil, admin, err
	}
	if d.ActiveName != "" && !states[d.ActiveName].Exists {
		return nil, admin, fmt.Errorf("database %s, which the active color uses, does not exist: restore it or point spec.database at another base name", d.ActiveName)
	}
	if name := bluegreen.SwitchableCandidate(d); states[name].Exists {
		st := states[name]
		if err := dbrelease.ReadRows(ctx, admin, &st); err != nil {
			return nil, admin, err
		}
		states[name] = st
	}
	o := &bluegreen.DatabaseObserved{States: states, Existing: existing}
	if c := d.Candidate; c != nil {
		replica := c.Cutover != nil && c.Cutover.Method == v1.CutoverReplicated
		o.Copying, o.CopyErr = r.copies.state(client.ObjectKeyFromObject(site), copyID{
			To: c.Name, From: d.ActiveName, Revision: c.SchemaRevision, Rehearsal: bluegreen.Rehearsing(c), Replica: replica})
	}
	if o.Replication, err = observeReplication(ctx, site, admin, d); err != nil {
		return nil, admin, err
	}
	return o, admin, nil
}

// runDatabaseSteps runs steps in order. What each did reaches status.database
// (d) through bluegreen.RecordDatabaseOutcome only.
func (r *SiteDeploymentReconciler) runDatabaseSteps(ctx context.Context, site *v1.SiteDeployment, admin postgres.Conn, d *v1.DatabaseStatus, steps []bluegreen.DatabaseStep) error {
	for _, s := range steps {
		out, err := r.runDatabaseStep(ctx, site, admin, d, s)
		if err == nil {
			bluegreen.RecordDatabaseOutcome(d, s, out)
			if out.MovedAsideTo != "" {
				err = r.saveDatabaseStatus(ctx, site, d)
			}
		}
		if err != nil {
			return fmt.Errorf("database step %s %s: %w", s.Op, s.Name, err)
		}
	}
	return nil
}

// runDatabaseStep runs one step; d, status.database as planned, is only read.
func (r *SiteDeploymentReconciler) runDatabaseStep(ctx context.Context, site *v1.SiteDeployment, admin postgres.Conn, d *v1.DatabaseStatus, s bluegreen.DatabaseStep) (bluegreen.DatabaseOutcome, error) {
	var out bluegreen.DatabaseOutcome
	var err error
	switch s.Op {
	case bluegreen.OpMoveAside:
		if out.MovedAsideTo, err = dbrelease.MoveAside(ctx, admin, s.Name); err == nil && out.MovedAsideTo != "" {
			r.event(site, false, v1.EventDatabaseMovedAside, "moved database %s aside to %s before copying into its name", s.Name, out.MovedAsideTo)
		}
	case bluegreen.OpCreate:
		_, err = dbrelease.EnsureDatabase(ctx, admin, s.Name, site.Spec.Database.Name, "")
	case bluegreen.OpFreeze:
		if s.SettleFirst {
			r.settle(ctx, admin, s.Name)
		}
		if s.PrepareCopy != "" {
			r.prepareCopy(ctx, site, admin, s)
		}
		_, err = dbrelease.Freeze(ctx, admin, s.Name)
	case bluegreen.OpUnfreeze:
		err = dbrelease.Unfreeze(ctx, admin, s.Name)
	case bluegreen.OpCopy:
		r.copies.start(site, admin, dbrelease.CloneSpec{Method: dbrelease.Method(s.Method), Rehearsal: s.Rehearsal,
			From: s.From, To: s.Name, Base: site.Spec.Database.Name, Revision: s.SchemaRevision}, s.AnalyzeAfterSwitch)
	case bluegreen.OpReplicate:
		r.copies.startReplica(site, admin, dbrelease.ReplicaSpec{From: s.From, To: s.Name, Base: site.Spec.Database.Name,
			Revision: s.SchemaRevision, Publisher: admin})
	case bluegreen.OpCatchUp:
		out.SwitchBaseline, err = r.catchUp(ctx, site, admin, s)
	case bluegreen.OpDropReplication:
		err = dbrelease.DropReplication(ctx, admin, s.From, s.Name)
	case bluegreen.OpAnalyze:
		r.copies.analyze(site, admin, s.Name)
	case bluegreen.OpMeasureFreeze:
		var frozen time.Duration
		if frozen, err = dbrelease.FrozenFor(ctx, admin, s.Name); err == nil && frozen > 0 {
			out.FrozenFor = &frozen
		}
	case bluegreen.OpStopCopy:
		r.copies.stop(client.ObjectKeyFromObject(site))
	case bluegreen.OpDropCopy:
		r.copies.stop(client.ObjectKeyFromObject(site))
		_, err = dbrelease.DropCopy(ctx, admin, s.Name)
	case bluegreen.OpReportWrites:
		out.WritesSinceSwitch, err = r.reportWrites(ctx, site, admin, d, s)
	case bluegreen.OpRetain:
		err = r.retain(ctx, site, admin, s)
	}
	return out, err
}

// saveDatabaseStatus records status.database at once, before anything else
// of the reconcile can fail: the new name of a database moved aside exists
// nowhere else.
func (r *SiteDeploymentReconciler) saveDatabaseStatus(ctx context.Context, site *v1.SiteDeployment, d *v1.DatabaseStatus) error {
	return r.patchStatus(ctx, site, func(st *v1.SiteDeploymentStatus) { st.Database = d.DeepCopy() })
}

// deleteJobs deletes the migration Jobs of cancelled releases, with their
// pods and their Secrets (a pod that has not started yet then never
// starts), and check Jobs of an earlier release of a revision.
func (r *SiteDeploymentReconciler) deleteJobs(ctx context.Context, site *v1.SiteDeployment, names []string) error {
	for _, name := range names {
		key := client.ObjectKey{Namespace: site.Namespace, Name: name}
		job := &batchv1.Job{}
		if err := r.Get(ctx, key, job); err == nil && metaOwnedBy(job, site) {
			if err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("cannot delete Job %s: %w", name, err)
			}
		} else if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("cannot read Job %s: %w", name, err)
		}
		sec := &corev1.Secret{}
		if err := r.Reader.Get(ctx, key, sec); err == nil && metaOwnedBy(sec, site) {
			if err := r.Delete(ctx, sec); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("cannot delete Secret %s: %w", name, err)
			}
		} else if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("cannot read Secret %s: %w", name, err)
		}
	}
	return nil
}

// settleWithin bounds the vacuum and checkpoint before a freeze: the
// cutover waits for them, and a copy under the freeze does what they left
// undone.
const settleWithin = 30 * time.Second

// settle vacuums and checkpoints the live database before it is frozen
// for a copy; it only saves time inside the freeze, so a failure is
// logged, not returned.
func (r *SiteDeploymentReconciler) settle(ctx context.Context, admin postgres.Conn, db string) {
	log := logf.FromContext(ctx).WithValues("database", db)
	start := time.Now()
	done, err := dbrelease.Settle(ctx, admin, db, settleWithin)
	if err != nil {
		log.Error(err, "settling before the freeze failed; the copy inside the freeze does its work")
		return
	}
	log.Info("settled before the freeze", "took", time.Since(start), "vacuumed", done.Vacuumed, "checkpointed", done.Checkpointed)
}

// prepareCopy creates the final copy's database empty before the freeze
// (a Dump copy restores into it); it only saves time inside the freeze, so
// a failure is logged, and the copy creates the database itself.
func (r *SiteDeploymentReconciler) prepareCopy(ctx context.Context, site *v1.SiteDeployment, admin postgres.Conn, s bluegreen.DatabaseStep) {
	log := logf.FromContext(ctx).WithValues("database", s.PrepareCopy)
	start := time.Now()
	prepared, err := dbrelease.PrepareCopy(ctx, admin, dbrelease.CloneSpec{Method: dbrelease.Method(s.Method),
		From: s.Name, To: s.PrepareCopy, Base: site.Spec.Database.Name, Revision: s.SchemaRevision})
	if err != nil {
		log.Error(err, "creating the copy's database before the freeze failed; the copy creates it")
		return
	}
	if prepared {
		log.Info("created the copy's database before the freeze", "took", time.Since(start))
	}
}

// reportWrites tells how many rows the abandoned side wrote since the
// switch to it: they are not carried back. It runs after the abandoned
// side was frozen (no session that could write is left) and never fails:
// the steps after it make the live side writable. Nil when the rows
// cannot be counted.
func (r *SiteDeploymentReconciler) reportWrites(ctx context.Context, site *v1.SiteDeployment, admin postgres.Conn, d *v1.DatabaseStatus, s bluegreen.DatabaseStep) (*int64, error) {
	if s.Baseline == nil {
		return nil, nil
	}
	now := dbrelease.State{Name: s.Name}
	err := dbrelease.ReadRows(ctx, admin, &now)
	w := dbrelease.WritesSince(bluegreen.Baseline(s.Baseline), now)
	kept := fmt.Sprintf("they are not carried back to %s, and %s is kept read-only for inspection", d.ActiveName, s.Name)
	switch {
	case err != nil:
		r.event(site, true, v1.EventWritesNotCarriedBack, "the rows %s wrote since the switch could not be counted (%v); %s", s.Name, err, kept)
		return nil, nil
	case !w.Known:
		r.event(site, true, v1.EventWritesNotCarriedBack, "the rows %s wrote since the switch could not be counted (its counters were not read at the switch); %s", s.Name, kept)
		return nil, nil
	case !w.Exact:
		r.event(site, true, v1.EventWritesNotCarriedBack, "%s wrote at least %d rows to its tables since the switch (its statistics were reset); %s", s.Name, w.Rows, kept)
	default:
		r.event(site, true, v1.EventWritesNotCarriedBack, "%s wrote %d rows to its tables since the switch; %s", s.Name, w.Rows, kept)
	}
	return &w.Rows, nil
}

// retain drops the site's copies the planner's Retain step does not keep.
func (r *SiteDeploymentReconciler) retain(ctx context.Context, site *v1.SiteDeployment, admin postgres.Conn, s bluegreen.DatabaseStep) error {
	dropped, err := dbrelease.DropCopies(ctx, admin, site.Spec.Database.Name, s.Keep, s.Retain)
	if len(dropped) > 0 {
		r.event(site, false, v1.EventDatabasesDropped, "dropped databases beyond retainPrevious: %s", strings.Join(dropped, ", "))
	}
	return err
}

// writeDatabaseSecrets gives each color's Secret the database status names
// for it, and each migration Job to create its own, naming its copy; both
// with the application's role when spec.database.appSecretRef is set.
func (r *SiteDeploymentReconciler) writeDatabaseSecrets(ctx context.Context, site *v1.SiteDeployment, admin postgres.Conn, plan *bluegreen.Plan) error {
	d := plan.Status.Database
	if ref := site.Spec.Database.AppSecretRef; ref != nil {
		sec := &corev1.Secret{}
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: ref.Name}, sec); err != nil {
			return fmt.Errorf("cannot read the application's database Secret %s: %w", ref.Name, err)
		}
		if len(sec.Data["username"]) == 0 {
			return fmt.Errorf("the application's database Secret %s has no username", ref.Name)
		}
		admin.User, admin.Password = string(sec.Data["username"]), string(sec.Data["password"])
	}
	for _, c := range []v1.Color{v1.Blue, v1.Green} {
		if d.Name(c) == "" {
			// No database chosen for this color yet (none adopted, or the
			// server is ambiguous): an empty DATABASE_NAME would connect
			// its pods to the role's own database, so the Secret is not
			// written, nor changed, until one is.
			continue
		}
		labels := map[string]string{v1.LabelSite: site.Name, v1.LabelColor: string(c)}
		if err := r.applyDatabaseSecret(ctx, site, bluegreen.DatabaseSecretName(site.Name, c), labels, admin.WithDatabase(d.Name(c))); err != nil {
			return err
		}
	}
	for _, job := range plan.Jobs {
		if db := job.Annotations[bluegreen.AnnotationDatabase]; db != "" {
			labels := map[string]string{v1.LabelSite: site.Name, v1.LabelMigration: job.Labels[v1.LabelMigration]}
			if err := r.applyDatabaseSecret(ctx, site, job.Name, labels, admin.WithDatabase(db)); err != nil {
				return err
			}
		}
	}
	return nil
}

// adminConn reads the admin connection Secret (keys host, port, username,
// password, sslmode).
func (r *SiteDeploymentReconciler) adminConn(ctx context.Context, site *v1.SiteDeployment) (postgres.Conn, error) {
	name := site.Spec.Database.ConnectionSecretRef.Name
	sec := &corev1.Secret{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: name}, sec); err != nil {
		return postgres.Conn{}, fmt.Errorf("cannot read the database connection Secret %s: %w", name, err)
	}
	c, err := postgres.FromEnv(func(k string) string { return string(sec.Data[k]) },
		postgres.EnvNames{Host: "host", Port: "port", User: "username", Password: "password", SSLMode: "sslmode"})
	if err != nil {
		return postgres.Conn{}, fmt.Errorf("database connection Secret %s: %w", name, err)
	}
	return c, nil
}

func (r *SiteDeploymentReconciler) applyDatabaseSecret(ctx context.Context, site *v1.SiteDeployment, name string, labels map[string]string, conn postgres.Conn) error {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(conn.User, conn.Password),
		Host: conn.Host + ":" + strconv.Itoa(conn.Port), Path: "/" + conn.Database}
	if conn.SSLMode != "" {
		u.RawQuery = "sslmode=" + url.QueryEscape(conn.SSLMode)
	}
	data := map[string][]byte{
		"DATABASE_HOST": []byte(conn.Host), "DATABASE_PORT": []byte(strconv.Itoa(conn.Port)),
		"DATABASE_NAME": []byte(conn.Database), "DATABASE_USER": []byte(conn.User),
		"DATABASE_PASSWORD": []byte(conn.Password), "DATABASE_URL": []byte(u.String()),
	}
	sec := &corev1.Secret{}
	err := r.Reader.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: name}, sec)
	if apierrors.IsNotFound(err) {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: site.Namespace, Labels: labels}, Data: data}
		if err := controllerutil.SetControllerReference(site, sec, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, sec); err != nil {
			return fmt.Errorf("cannot create Secret %s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read Secret %s: %w", name, err)
	}
	if !metaOwnedBy(sec, site) {
		return fmt.Errorf("secret %s exists and is not owned by SiteDeployment %s: rename or delete it", name, site.Name)
	}
	if equalData(sec.Data, data) {
		return nil
	}
	before := sec.DeepCopy()
	sec.Data = data
	if err := r.Patch(ctx, sec, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("cannot update Secret %s: %w", name, err)
	}
	return nil
}

func equalData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			return false
		}
	}
	return true
}

// withDatabaseEnv gives every container of a color's pods that color's
// DATABASE_* settings. It is applied when a revision's template is written,
// so it never changes the revision.
func withDatabaseEnv(t *corev1.PodTemplateSpec, site string, c v1.Color) {
	ref := corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: bluegreen.DatabaseSecretName(site, c)}}}
	for _, list := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for i := range list {
			list[i].EnvFrom = append(list[i].EnvFrom, ref)
		}
	}
}
