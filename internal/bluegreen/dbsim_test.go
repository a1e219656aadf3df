package bluegreen

import (
	"slices"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/internal/dbstate"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// dbServer plays PostgreSQL and the controller's database steps for the
// planner tests: it runs each step the way internal/dbrelease does, on
// in-memory database states. The real operations are tested on a real
// server in internal/dbrelease and controllers.
type dbServer struct {
	w   *world
	dbs map[string]dbstate.State
	oid uint32
	// copyErr makes every copy fail with it.
	copyErr string
	// stuck copies never finish.
	stuck bool
	// ran is every step run, in order.
	ran []DatabaseStep
	// analyzedLater is each Copy made, in order: true when its ANALYZE
	// waits for the switch.
	analyzedLater []bool
	// settled lists the databases vacuumed before a freeze.
	settled []string
	// prepared is the last database prepared for a copy before a freeze.
	prepared string
	// replication plays logical replication (dbsim_replication_test.go).
	replication simReplication
}

func (w *world) withDatabase(migration bool) {
	// The tests of releases without a rehearsal say so; those with one
	// set it back to the API's default (withRehearsal).
	w.site.Spec.Database = &v1.DatabaseSpec{Name: "shop", SchemaRevision: "1", CloneMethod: v1.CloneDump, Rehearse: ptr.To(false)}
	if migration {
		w.site.Spec.Database.Migration = &v1.MigrationSpec{Template: image("shop-migrate:1")}
	}
	w.db = &dbServer{w: w, dbs: map[string]dbstate.State{}}
	w.db.create("shop_blue", dbstate.RoleInitial, "", "")
}

func (s *dbServer) create(name, role, source, revision string) {
	s.oid++
	s.dbs[name] = dbstate.State{Name: name, Exists: true, OID: s.oid, Marked: true, AllowConnections: true,
		Marker: markerOf(role, source, revision, s.w.now)}
}

func (s *dbServer) observe() *DatabaseObserved {
	if s == nil {
		return nil
	}
	states := map[string]dbstate.State{}
	for _, name := range []string{"shop_blue", "shop_green"} {
		states[name] = s.get(name)
	}
	if d := s.w.site.Status.Database; d != nil {
		for _, name := range []string{d.ActiveName, d.PreviousName, d.Blue, d.Green} {
			states[name] = s.get(name)
		}
	}
	if name := SwitchableCandidate(s.w.site.Status.Database); states[name].Exists { // as the controller's dbrelease.ReadRows
		states[name] = s.withRows(name)
	}
	o := &DatabaseObserved{States: states, CopyErr: s.copyErr, Copying: s.stuck, Replication: s.observeReplication()}
	if d := s.w.site.Status.Database; d == nil || d.ActiveName == "" {
		for name := range s.dbs {
			if name == "shop" || strings.HasPrefix(name, "shop_") {
				o.Existing = append(o.Existing, name)
				states[name] = s.get(name)
			}
		}
		slices.Sort(o.Existing)
	}
	return o
}

func (s *dbServer) get(name string) dbstate.State {
	if st, ok := s.dbs[name]; ok {
		st.RowsRead = false
		return st
	}
	return dbstate.State{Name: name}
}

// withRows is name's state with its row counter, as dbrelease.ReadRows
// reads it; get leaves it out, as dbrelease.Statuses does.
func (s *dbServer) withRows(name string) dbstate.State {
	st := s.get(name)
	st.RowsRead = st.Exists
	return st
}

// write writes n rows on name.
func (s *dbServer) write(name string, n int64) {
	st := s.dbs[name]
	st.Rows += n
	s.dbs[name] = st
}

// run runs steps in order, as the controller does: what each did reaches
// status.database through RecordDatabaseOutcome.
func (s *dbServer) run(d *v1.DatabaseStatus, steps []DatabaseStep) {
	if s == nil {
		return
	}
	for _, step := range steps {
		s.ran = append(s.ran, step)
		RecordDatabaseOutcome(d, step, s.runStep(d, step))
	}
}

func (s *dbServer) runStep(d *v1.DatabaseStatus, step DatabaseStep) DatabaseOutcome {
	var out DatabaseOutcome
	st := s.dbs[step.Name]
	switch step.Op {
	case OpMoveAside:
		if st.Exists { // as dbrelease.MoveAside: else nothing to move
			out.MovedAsideTo = step.Name + "_prev_" + s.w.now.Format("20060102150405")
			delete(s.dbs, step.Name)
			st.Name = out.MovedAsideTo
			s.dbs[out.MovedAsideTo] = st
		}
	case OpCreate:
		if !st.Exists {
			s.create(step.Name, dbstate.RoleInitial, "", "")
		}
	case OpFreeze:
		if step.SettleFirst {
			s.settled = append(s.settled, step.Name)
		}
		if step.PrepareCopy != "" && !s.dbs[step.PrepareCopy].Exists { // as dbrelease.PrepareCopy
			s.create(step.PrepareCopy, dbstate.RolePrepared, step.Name, step.SchemaRevision)
			s.prepared = step.PrepareCopy
		}
		if !st.Frozen {
			st.Frozen, st.FrozenSince = true, s.w.now
		}
		s.dbs[step.Name] = st
	case OpUnfreeze:
		st.Frozen, st.FrozenSince = false, time.Time{}
		s.dbs[step.Name] = st
	case OpCopy:
		if s.copyErr == "" && !s.stuck {
			role := dbstate.RoleCopy
			if step.Rehearsal {
				role = dbstate.RoleRehearsal
			} else if !s.dbs[step.From].Frozen {
				s.w.t.Fatalf("a final copy of %s, which is not frozen", step.From)
			}
			prepared := s.dbs[step.Name]
			s.create(step.Name, role, step.From, step.SchemaRevision)
			if prepared.Unfinished() { // restored into, as dbrelease.Clone does
				st := s.dbs[step.Name]
				st.OID = prepared.OID
				s.dbs[step.Name] = st
			}
			s.analyzedLater = append(s.analyzedLater, step.AnalyzeAfterSwitch)
		}
	case OpAnalyze:
		if d.ActiveName != step.Name || !st.Exists {
			s.w.t.Fatalf("ANALYZE of %s after the switch, which is not the live database (%s)", step.Name, d.ActiveName)
		}
	case OpMeasureFreeze:
		if st.Frozen {
			out.FrozenFor = ptr.To(s.w.now.Sub(st.FrozenSince))
		}
	case OpDropCopy:
		delete(s.dbs, step.Name)
		delete(s.replication.replicas, step.Name)
	case OpReplicate, OpCatchUp, OpDropReplication:
		s.runReplicationStep(step)
	case OpReportWrites:
		if w := dbstate.WritesSince(Baseline(step.Baseline), s.withRows(step.Name)); w.Known {
			out.WritesSinceSwitch = ptr.To(w.Rows)
		}
	case OpRetain:
		for name := range s.dbs {
			if strings.Contains(name, "_prev_") && name != d.PreviousName {
				delete(s.dbs, name)
			}
		}
	}
	return out
}

// ops lists the steps run since the last call, as "Op name".
func (s *dbServer) ops() []string {
	var out []string
	for _, st := range s.ran {
		out = append(out, string(st.Op)+" "+st.Name)
	}
	s.ran = nil
	return out
}

// releaseSchema changes the template and the schema revision together.
func (w *world) releaseSchema(img, schema string) {
	w.site.Spec.Template = image(img)
	w.site.Spec.Database.SchemaRevision = schema
	w.site.Generation++
}

// siteRev is the revision of the site's spec as it is now.
func (w *world) siteRev() string { return SiteRevision(&w.site.Spec) }

func markerOf(role, source, revision string, at time.Time) postgres.Marker {
	return postgres.Marker{Tool: dbrelease.Tool, Role: role, For: "shop", Source: source, Revision: revision, CreatedAt: at}
}
