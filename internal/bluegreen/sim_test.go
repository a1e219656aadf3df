package bluegreen

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// world simulates the cluster around the planner: it applies each plan the
// way the controller would, and lets a test play kube-controller-manager
// (making Deployments available, finishing Jobs) and move the clock.
type world struct {
	t         *testing.T
	site      *v1.SiteDeployment
	deps      map[v1.Color]*appsv1.Deployment
	active    *corev1.Service
	preview   *corev1.Service
	jobs      map[string]*batchv1.Job
	templates map[string]*corev1.PodTemplateSpec
	now       time.Time
	last      Plan
	switches  int
	// db simulates the PostgreSQL server of a site with spec.database.
	db *dbServer
	// pods are each color's pods (see runDigests), shown to the planner
	// once a test plays the kubelet; tagDigests what their tags resolved to.
	pods       map[v1.Color][]PodImages
	tagDigests map[v1.Color][]string
	// registry answers Plan.Resolve (image -> digest); nil: the planner
	// is not asked again (no resolver). registryDown: it cannot be asked.
	registry     map[string]string
	registryDown bool
	// upstreams are what the controller read of spec.promotion.upstreams.
	upstreams []Upstream
	// jobFailures is what the failed Jobs' pods said (Observed.JobFailures).
	jobFailures map[string]string
	// notReady are the pods the pod cache shows not becoming ready.
	notReady map[v1.Color][]PodProblem
	// measure takes the measurements of metric checks that are due, as
	// the controller does before each decision (nil: none taken).
	measure func(DueMeasurement) v1.Measurement
	// group are the other members of the site's release group, each
	// simulated by its own planner (Observed.Group).
	group []*world
}

func newWorld(t *testing.T, mutate ...func(*v1.SiteDeployment)) *world {
	s := &v1.SiteDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "prod", Generation: 1, Annotations: map[string]string{}},
		Spec: v1.SiteDeploymentSpec{
			Replicas: ptr.To[int32](3),
			Template: image("shop:1"),
			Service:  v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80}}},
			Strategy: v1.StrategySpec{
				AutoPromote:      ptr.To(true),
				AutoPromoteAfter: &metav1.Duration{},
				ScaleDownDelay:   &metav1.Duration{Duration: 10 * time.Minute},
				ProgressDeadline: &metav1.Duration{Duration: 10 * time.Minute},
			},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return &world{t: t, site: s, deps: map[v1.Color]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{},
		templates: map[string]*corev1.PodTemplateSpec{}, now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
}

func image(img string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "shop"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: img}}},
	}
}

func rev(img string) string { t := image(img); return Revision(&t) }

// reconcile runs the planner once and applies its plan.
func (w *world) reconcile() Plan {
	w.t.Helper()
	before := map[v1.Color]appsv1.Deployment{}
	for c, d := range w.deps {
		before[c] = *d.DeepCopy()
	}
	in := Observed{Site: w.site.DeepCopy(), Deployments: w.deps, ActiveService: w.active,
		PreviewService: w.preview, Jobs: w.jobs, Templates: w.templates, Now: w.now, Database: w.db.observe(),
		Upstreams: w.upstreams, JobFailures: w.jobFailures, NotReady: w.notReady, Measurements: w.measured(), Group: w.groupSites()}
	in.Pods = w.pods
	pinnedBefore := pinned(w.site.Status.PreviewDigests)
	p := Decide(in)
	if p.Resolve != nil && (w.registry != nil || w.registryDown) {
		in.Resolved = w.resolve(p.Resolve)
		p = Decide(in)
	}
	for _, stage := range Stages {
		switch stage {
		case StageDatabase:
			w.db.run(p.Status.Database, p.DatabaseSteps)
		case StageDatabaseSecrets: // the world keeps no Secrets
		case StageDeleteJobs:
			for _, name := range p.DeleteJobs {
				delete(w.jobs, name)
			}
		case StageSwitchDatabase:
			w.db.run(p.Status.Database, p.SwitchSteps)
		case StageObjects:
			w.applyObjects(p, before, pinnedBefore)
		case StageAfterSwitch:
			w.db.run(p.Status.Database, p.AfterSwitchSteps)
		case StageStatus:
			w.site.Status = p.Status
		default:
			w.t.Fatalf("the world cannot apply stage %s", stage)
		}
	}
	w.last = p
	return p
}

// applyObjects plays StageObjects: revisions, Deployments, Services, check
// Jobs, checking the safety invariant on every switch.
func (w *world) applyObjects(p Plan, before map[v1.Color]appsv1.Deployment, pinnedBefore map[string]string) {
	w.t.Helper()
	for r, t := range p.Revisions {
		w.templates[r] = t.DeepCopy()
	}
	for _, r := range p.DropRevisions {
		delete(w.templates, r)
	}
	for _, in := range p.Deployments {
		d := w.deps[in.Color]
		if d == nil {
			if in.Template == nil {
				continue
			}
			d = &appsv1.Deployment{}
			w.deps[in.Color] = d
		}
		changed := *d.DeepCopy()
		if in.Template != nil && (revisionOf(d) != in.Revision || PreviewOf(&d.Spec.Template) != PreviewHash(in.Preview)) {
			d.Spec.Template = *in.Template.DeepCopy()
			d.Spec.Template.Labels = map[string]string{v1.LabelRevision: in.Revision}
			WithPreview(&d.Spec.Template, in.Preview)
		}
		PinImages(&d.Spec.Template, in.Images)
		d.Spec.Replicas = ptr.To(in.Replicas)
		if !deploymentsEqual(&changed, d) {
			d.Generation++
		}
	}
	if p.Active != nil {
		svc := service(*p.Active, w.site.Name)
		if w.active == nil || w.active.Spec.Selector[v1.LabelColor] != svc.Spec.Selector[v1.LabelColor] ||
			w.active.Spec.Selector[v1.LabelRevision] != svc.Spec.Selector[v1.LabelRevision] {
			// Safety invariant: the newly selected color had all replicas
			// available for the selected revision before the switch.
			b, ok := before[p.Active.Color]
			if !ok || !readyAt(&b, p.Active.Revision, w.site.Spec.DesiredReplicas()) && !w.podsReady(p.Active.Color, &b) {
				w.t.Fatalf("active Service switched to %s/%s, which was not fully available", p.Active.Color, p.Active.Revision)
			}
			// ... and ran the digests its preview pods were checked on.
			if !runsPinned(&b, pinnedBefore) {
				w.t.Fatalf("active Service switched to %s/%s, which does not run the checked digests %v", p.Active.Color, p.Active.Revision, pinnedBefore)
			}
			// ... and without preview settings.
			if inPreview(&b) {
				w.t.Fatalf("active Service switched to %s/%s, whose pods run with preview settings", p.Active.Color, p.Active.Revision)
			}
			w.switches++
		}
		w.active = svc
	}
	if p.Preview != nil {
		w.preview = service(*p.Preview, w.site.Name)
	}
	for _, j := range p.Jobs {
		if w.jobs[j.Name] == nil {
			j = j.DeepCopy()
			w.jobs[j.Name] = j
		}
	}
}

func deploymentsEqual(a, b *appsv1.Deployment) bool {
	return revisionOf(a) == revisionOf(b) && ptr.Deref(a.Spec.Replicas, -1) == ptr.Deref(b.Spec.Replicas, -1) &&
		equality.Semantic.DeepEqual(a.Spec.Template.Spec.Containers, b.Spec.Template.Spec.Containers) &&
		equality.Semantic.DeepEqual(a.Spec.Template.Annotations, b.Spec.Template.Annotations)
}

func service(in ServiceIntent, site string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: in.Name}, Spec: corev1.ServiceSpec{Selector: in.Selector(site)}}
}

// available plays the Deployment controller: all desired pods up and available.
func (w *world) available(c v1.Color) {
	d := w.deps[c]
	if d == nil {
		w.t.Fatalf("no %s deployment", c)
	}
	n := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, AvailableReplicas: n, ReadyReplicas: n}
	if w.pods != nil {
		w.runPods(c)
	}
}

func (w *world) finishJob(name string, ok bool) {
	j := w.jobs[name]
	if j == nil {
		w.t.Fatalf("no job %s; jobs: %v", name, keys(w.jobs))
	}
	c := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}
	if !ok {
		c = batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}
		if w.jobFailures == nil {
			w.jobFailures = map[string]string{}
		}
		w.jobFailures[name] = failedPod(name)
	}
	j.Status.Conditions = append(j.Status.Conditions, c)
}

// failedPod is what the controller reads from a failed Job's pod.
func failedPod(job string) string {
	return "pod " + job + "-x7k2p: container main failed (Error, exit code 3): ERROR:  column \"nope\" does not exist"
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (w *world) release(img string) { w.site.Spec.Template = image(img); w.site.Generation++ }

// releaseReady releases img and makes the candidate available on the idle
// color (an auto-promoted release then switches).
func (w *world) releaseReady(img string) {
	w.t.Helper()
	w.release(img)
	w.reconcile()
	w.available(w.site.Status.ActiveColor.Other())
	w.reconcile()
}

func (w *world) annotate(k, v string) { w.site.Annotations[k] = v }

func (w *world) advance(d time.Duration) { w.now = w.now.Add(d) }

// healthyOn brings the first revision up and checks it serves.
func (w *world) healthyOn(img string) {
	w.t.Helper()
	w.reconcile()
	w.available(v1.Blue)
	w.reconcile()
	w.expect(v1.PhaseHealthy, v1.Blue, SiteRevision(&w.site.Spec))
	if w.site.Spec.Template.Spec.Containers[0].Image != img {
		w.t.Fatalf("healthyOn(%s) on a site with %s", img, w.site.Spec.Template.Spec.Containers[0].Image)
	}
}

func (w *world) expect(phase v1.SiteDeploymentPhase, color v1.Color, activeRev string) {
	w.t.Helper()
	st := w.site.Status
	if st.Phase != phase || st.ActiveColor != color || st.ActiveRevision != activeRev {
		w.t.Fatalf("want %s on %s/%s, got %s on %s/%s (%s)", phase, color, activeRev, st.Phase, st.ActiveColor, st.ActiveRevision, st.Message)
	}
	if color != "" && (w.active == nil || w.active.Spec.Selector[v1.LabelColor] != string(color) || w.active.Spec.Selector[v1.LabelRevision] != activeRev) {
		w.t.Fatalf("active Service does not select %s/%s: %v", color, activeRev, w.active)
	}
}

func (w *world) replicas(c v1.Color) int32 {
	if w.deps[c] == nil {
		return -1
	}
	return *w.deps[c].Spec.Replicas
}
