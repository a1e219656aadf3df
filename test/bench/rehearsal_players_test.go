package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/postgres"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// What BenchmarkRehearsedRelease plays beside the manager: the migration
// Jobs, and the site's client writing without pause.

// migrationPlayer plays the Job controller for migration Jobs: it runs the
// migration on the copy a Job names and marks the Job complete.
type migrationPlayer struct {
	mu   sync.Mutex
	done map[string]time.Time // copy -> when its last migration finished
}

func startMigrationPlayer(ctx context.Context, b *testing.B, c client.Client, srv *pgtest.Server, ns string) *migrationPlayer {
	m := &migrationPlayer{done: map[string]time.Time{}}
	go func() {
		seen := map[string]bool{}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			jobs := &batchv1.JobList{}
			if err := c.List(ctx, jobs, client.InNamespace(ns), client.HasLabels{v1.LabelMigration}); err != nil {
				continue
			}
			for i := range jobs.Items {
				j := &jobs.Items[i]
				if seen[j.Name] {
					continue
				}
				seen[j.Name] = true
				db, schema := j.Annotations[bluegreen.AnnotationDatabase], ""
				for _, e := range j.Spec.Template.Spec.Containers[0].Env {
					if e.Name == "SCHEMA_REVISION" {
						schema = e.Value
					}
				}
				err := srv.Exec(ctx, db, benchMigration(schema)...)
				m.mu.Lock()
				m.done[db] = time.Now()
				m.mu.Unlock()
				finishJob(ctx, c, j, err == nil)
			}
		}
	}()
	return m
}

func (m *migrationPlayer) doneAt(db string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done[db]
}

func finishJob(ctx context.Context, c client.Client, j *batchv1.Job, ok bool) {
	now := metav1.Now()
	j.Status.StartTime, j.Status.CompletionTime = &now, &now
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	j.Status.Succeeded = 1
	if !ok {
		j.Status.CompletionTime, j.Status.Succeeded, j.Status.Failed = nil, 0, 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now}}
	}
	_ = c.Status().Update(ctx, j)
}

// activeWriter writes without pause to the database the active color's
// pods are given (the active Service's color, that color's Secret), as the
// site's clients do through it, and records its first refused write after
// the approval and its first acknowledged write on another database.
type activeWriter struct {
	mu                        sync.Mutex
	target, initial           string
	approvedAt                time.Time
	firstRefused, firstNewAck time.Time
	cancel                    context.CancelFunc
	done                      sync.WaitGroup
}

// startActiveWriter writes to the database of the color the site's Service
// selects. It learns of the switch from a watch: polling the API server
// would load the machine the copy runs on, which the raw baseline's writer
// does not.
func startActiveWriter(ctx context.Context, b *testing.B, c client.WithWatch, srv *pgtest.Server, ns, site string) *activeWriter {
	database := func(ctx context.Context, svc *corev1.Service) string {
		sec := &corev1.Secret{}
		color := v1.Color(svc.Spec.Selector[v1.LabelColor])
		if c.Get(ctx, keyOf(ns, bluegreen.DatabaseSecretName(site, color)), sec) != nil {
			return ""
		}
		return string(sec.Data["DATABASE_NAME"])
	}
	svc := &corev1.Service{}
	if err := c.Get(ctx, keyOf(ns, site), svc); err != nil {
		b.Fatal(err)
	}
	return startWriter(ctx, b, srv, database(ctx, svc), func(ctx context.Context, follow func(string)) {
		for ctx.Err() == nil {
			list := &corev1.ServiceList{}
			wi, err := c.Watch(ctx, list, client.InNamespace(ns), client.MatchingFields{"metadata.name": site})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range wi.ResultChan() {
				if svc, ok := ev.Object.(*corev1.Service); ok {
					if db := database(ctx, svc); db != "" {
						follow(db)
					}
				}
			}
			wi.Stop()
		}
	})
}

// startWriter writes without pause to initial, and to what follow (when
// not nil, run in its own goroutine) later names.
func startWriter(ctx context.Context, b *testing.B, srv *pgtest.Server, initial string, follow func(context.Context, func(string))) *activeWriter {
	ctx, cancel := context.WithCancel(ctx)
	w := &activeWriter{cancel: cancel, initial: initial, target: initial}
	if initial == "" {
		b.Fatal("no active database to write to")
	}
	if follow != nil {
		w.done.Add(1)
		go func() {
			defer w.done.Done()
			follow(ctx, func(db string) {
				w.mu.Lock()
				w.target = db
				w.mu.Unlock()
			})
		}()
	}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		var conn *pgx.Conn
		var connDB string
		defer func() {
			if conn != nil {
				_ = conn.Close(context.Background())
			}
		}()
		for ctx.Err() == nil {
			w.mu.Lock()
			db := w.target
			w.mu.Unlock()
			var err error
			if conn == nil || connDB != db {
				if conn != nil {
					_ = conn.Close(ctx)
				}
				conn, connDB = nil, db
				conn, err = postgres.Connect(ctx, srv.Conn(db), "bench-writer")
			}
			if err == nil {
				_, err = conn.Exec(ctx, "INSERT INTO items (note) VALUES ('w')")
			}
			if ctx.Err() != nil {
				return
			}
			w.answered(db, err)
			if conn != nil && conn.IsClosed() {
				conn = nil // ended by the freeze: connect again
			}
		}
	}()
	return w
}

func (w *activeWriter) answered(db string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	switch {
	case err != nil && !w.approvedAt.IsZero() && w.firstRefused.IsZero():
		w.firstRefused = now
	case err == nil && db != w.initial && w.firstNewAck.IsZero():
		w.firstNewAck = now
	}
}

func (w *activeWriter) approved() {
	w.mu.Lock()
	w.approvedAt = time.Now()
	w.mu.Unlock()
}

// window waits for the first acknowledged write on the new side and
// returns it with the first refused one.
func (w *activeWriter) window(b *testing.B) (refused, acked time.Time) {
	waitForWithin(b, "a write acknowledged on the new side", time.Minute, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		refused, acked = w.firstRefused, w.firstNewAck
		return !acked.IsZero()
	})
	if refused.IsZero() {
		b.Fatal("no write was refused: the writer did not see the freeze")
	}
	return refused, acked
}

func (w *activeWriter) stop() {
	w.cancel()
	w.done.Wait()
}
