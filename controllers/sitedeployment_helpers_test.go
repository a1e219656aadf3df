package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// site is a SiteDeployment under test and the helpers that play the rest
// of the cluster around it.
type site struct {
	t  *testing.T
	ns string
	// name is the SiteDeployment's; shop unless a test names it.
	name string
	sd   *v1.SiteDeployment
	// base is spec.database.name, when the site has one.
	base string
}

// db is the name of a color's database, <base>_<color>.
func (s *site) db(c v1.Color) string { return s.base + "_" + string(c) }

func newSite(t *testing.T, image string, mutate ...func(*v1.SiteDeployment)) *site {
	t.Helper()
	sd := &v1.SiteDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: newNamespace(t)},
		Spec: v1.SiteDeploymentSpec{
			Replicas: ptr.To[int32](2),
			Template: podTemplate(image),
			Service:  v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80}}},
		},
	}
	for _, m := range mutate {
		m(sd)
	}
	if err := k8sClient.Create(context.Background(), sd); err != nil {
		t.Fatalf("cannot create SiteDeployment: %v", err)
	}
	return &site{t: t, ns: sd.Namespace, name: sd.Name, sd: sd}
}

// healthySite brings a site up on blue with shop:1 and returns its revision.
func healthySite(t *testing.T, mutate ...func(*v1.SiteDeployment)) (*site, string) {
	t.Helper()
	s := newSite(t, "shop:1", mutate...)
	r1 := s.revision()
	s.available(v1.Blue, r1, s.sd.Spec.DesiredReplicas())
	s.waitActive(v1.PhaseHealthy, v1.Blue, r1)
	return s, r1
}

func podTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "shop"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

func (s *site) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: s.ns, Name: name}
}

func (s *site) get() *v1.SiteDeployment {
	s.t.Helper()
	sd := &v1.SiteDeployment{}
	if err := k8sClient.Get(context.Background(), s.key(s.name), sd); err != nil {
		s.t.Fatalf("cannot get SiteDeployment: %v", err)
	}
	return sd
}

func (s *site) update(mutate func(*v1.SiteDeployment)) {
	s.t.Helper()
	updateWithRetry(s.t, s.get(), mutate)
}

func (s *site) release(image string) {
	s.update(func(sd *v1.SiteDeployment) { sd.Spec.Template = podTemplate(image) })
}

// annotate sets an annotation with a merge patch, as kubectl annotate does.
func (s *site) annotate(k, v string) {
	s.t.Helper()
	annotate(s.t, s.get(), k, v)
}

func (s *site) deployment(c v1.Color) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	if err := k8sClient.Get(context.Background(), s.key(bluegreen.DeploymentName(s.name, c)), d); err != nil {
		return nil
	}
	return d
}

// available plays the Deployment controller once the color runs revision
// rev at n replicas: every pod up and available.
func (s *site) available(c v1.Color, rev string, n int32) {
	s.t.Helper()
	eventually(s.t, fmt.Sprintf("%s running %s at %d", c, rev, n), func() error {
		d := s.deployment(c)
		if d == nil {
			return fmt.Errorf("no %s deployment", c)
		}
		if got := d.Spec.Template.Labels[v1.LabelRevision]; got == rev && *d.Spec.Replicas > n && s.hasPods(c) {
			return nil // its pods were Ready at n and the manager went on: the switch reads pods
		} else if got != rev || *d.Spec.Replicas != n {
			return fmt.Errorf("%s runs %s at %d", c, got, *d.Spec.Replicas)
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if err := k8sClient.Status().Update(context.Background(), d); err != nil {
			return err
		}
		return s.topUpPods(d, n)
	})
	s.assertInvariant()
}

// hasPods: a test started pods of the color (runPod).
func (s *site) hasPods(c v1.Color) bool {
	var pods corev1.PodList
	err := k8sClient.List(context.Background(), &pods, client.InNamespace(s.ns), client.MatchingLabels{v1.LabelSite: s.name, v1.LabelColor: string(c)})
	return err == nil && len(pods.Items) > 0
}

// topUpPods plays the kubelet where a test started pods of a color (the
// planner then judges the color by its pods): Ready pods of d's template
// until n run it. A container named by digest reports that digest; a tag
// the digest a pod of the revision already reported for it.
func (s *site) topUpPods(d *appsv1.Deployment, n int32) error {
	var pods corev1.PodList
	color := d.Spec.Template.Labels[v1.LabelColor]
	if err := k8sClient.List(context.Background(), &pods, client.InNamespace(s.ns),
		client.MatchingLabels{v1.LabelSite: s.name, v1.LabelColor: color}); err != nil || len(pods.Items) == 0 {
		return err
	}
	rev, tmpl := d.Spec.Template.Labels[v1.LabelRevision], &d.Spec.Template
	var have int32
	for _, p := range pods.Items {
		if p.Labels[v1.LabelRevision] == rev && p.Annotations[v1.AnnotationPreviewSettings] == tmpl.Annotations[v1.AnnotationPreviewSettings] {
			have++
		}
	}
	for i := have; i < n; i++ {
		c := tmpl.Spec.Containers[0]
		id := ""
		if strings.Contains(c.Image, "@") {
			id = "registry.example/" + c.Image
		}
		for _, p := range pods.Items {
			if id == "" && p.Labels[v1.LabelRevision] == rev && len(p.Status.ContainerStatuses) > 0 {
				id = p.Status.ContainerStatuses[0].ImageID
			}
		}
		s.runPodWith(fmt.Sprintf("%s-%s-%s-%d", s.name, color, rev, i), tmpl, id, true)
	}
	return nil
}

// assertInvariant: the active Service only selects a color whose
// Deployment runs the selected revision with all desired replicas
// available, without preview settings.
func (s *site) assertInvariant() {
	s.t.Helper()
	svc := &corev1.Service{}
	if err := k8sClient.Get(context.Background(), s.key(s.name), svc); err != nil {
		return // not created before the first revision is available
	}
	c, rev := v1.Color(svc.Spec.Selector[v1.LabelColor]), svc.Spec.Selector[v1.LabelRevision]
	d := s.deployment(c)
	if d == nil || d.Spec.Template.Labels[v1.LabelRevision] != rev || d.Status.AvailableReplicas < *d.Spec.Replicas ||
		d.Status.ObservedGeneration < d.Generation && d.Status.AvailableReplicas == 0 {
		s.t.Fatalf("safety invariant broken: active Service selects %s/%s but that Deployment is %+v", c, rev, d)
	}
	if bluegreen.PreviewOf(&d.Spec.Template) != "" {
		s.t.Fatalf("safety invariant broken: active Service selects %s/%s whose pods run with preview settings: %+v", c, rev, d.Spec.Template)
	}
}

// waitActive waits until the active Service selects color/rev and status agrees.
func (s *site) waitActive(phase v1.SiteDeploymentPhase, c v1.Color, rev string) *v1.SiteDeployment {
	s.t.Helper()
	var sd *v1.SiteDeployment
	eventually(s.t, fmt.Sprintf("%s with %s/%s active", phase, c, rev), func() error {
		sd = s.get()
		svc := &corev1.Service{}
		if err := k8sClient.Get(context.Background(), s.key(s.name), svc); err != nil {
			return err
		}
		if svc.Spec.Selector[v1.LabelColor] != string(c) || svc.Spec.Selector[v1.LabelRevision] != rev {
			return fmt.Errorf("active Service selects %v", svc.Spec.Selector)
		}
		st := sd.Status
		if st.Phase != phase || st.ActiveColor != c || st.ActiveRevision != rev || st.ObservedGeneration != sd.Generation {
			return fmt.Errorf("status %s %s/%s gen %d/%d: %s", st.Phase, st.ActiveColor, st.ActiveRevision, st.ObservedGeneration, sd.Generation, st.Message)
		}
		return nil
	})
	s.assertInvariant()
	return sd
}

func (s *site) waitPhase(phase v1.SiteDeploymentPhase) *v1.SiteDeployment {
	s.t.Helper()
	var sd *v1.SiteDeployment
	eventually(s.t, string(phase), func() error {
		sd = s.get()
		if sd.Status.Phase != phase || sd.Status.ObservedGeneration != sd.Generation {
			return fmt.Errorf("phase %s: %s", sd.Status.Phase, sd.Status.Message)
		}
		return nil
	})
	s.assertInvariant()
	return sd
}

// waitChecking waits until the site says its pre-promotion check runs
// (phase Progressing: checked, not yet approved).
func (s *site) waitChecking() *v1.SiteDeployment {
	s.t.Helper()
	var sd *v1.SiteDeployment
	eventually(s.t, "the pre-promotion check running", func() error {
		sd = s.get()
		if sd.Status.Phase != v1.PhaseProgressing || !strings.Contains(sd.Status.Message, "pre-promotion check") {
			return fmt.Errorf("phase %s: %s", sd.Status.Phase, sd.Status.Message)
		}
		return nil
	})
	return sd
}

func (s *site) waitReplicas(c v1.Color, n int32) {
	s.t.Helper()
	eventually(s.t, fmt.Sprintf("%s at %d replicas", c, n), func() error {
		if d := s.deployment(c); d == nil || *d.Spec.Replicas != n {
			return fmt.Errorf("%s: %v", c, d)
		}
		return nil
	})
}

func (s *site) revision() string {
	s.t.Helper()
	var rev string
	eventually(s.t, "current revision", func() error {
		sd := s.get()
		if sd.Status.ObservedGeneration != sd.Generation {
			return fmt.Errorf("generation %d not observed", sd.Generation)
		}
		rev = sd.Status.CurrentRevision
		return nil
	})
	return rev
}

// failedWith is what failJobPod's container leaves as its termination
// message (FallbackToLogsOnError: its last log lines).
const failedWith = "psql:/migrate.sql:1: ERROR:  column \"nope\" does not exist"

// failJobPod plays the kubelet for a Job's pod whose container failed.
func (s *site) failJobPod(job string) {
	s.t.Helper()
	ctx := context.Background()
	j := &batchv1.Job{}
	if err := k8sClient.Get(ctx, s.key(job), j); err != nil {
		s.t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job + "-x7k2p", Namespace: s.ns, Labels: j.Spec.Template.Labels},
		Spec: *j.Spec.Template.Spec.DeepCopy()}
	if err := k8sClient.Create(ctx, pod); err != nil {
		s.t.Fatalf("cannot create pod: %v", err)
	}
	pod.Status.Phase = corev1.PodFailed
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 3, Message: "BEGIN\n" + failedWith + "\n"}}}}
	if err := k8sClient.Status().Update(ctx, pod); err != nil {
		s.t.Fatalf("cannot fail pod: %v", err)
	}
}

// finishJob plays the Job controller; a failed Job's pod failed first
// (failJobPod).
func (s *site) finishJob(name string, ok bool) {
	s.t.Helper()
	if !ok {
		s.failJobPod(name)
	}
	eventually(s.t, "finish job "+name, func() error {
		j := &batchv1.Job{}
		if err := k8sClient.Get(context.Background(), s.key(name), j); err != nil {
			return err
		}
		now := metav1.Now()
		j.Status.StartTime = &now
		if ok {
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
			j.Status.Succeeded, j.Status.CompletionTime = 1, &now
		} else {
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now}}
			j.Status.Failed = 1
		}
		return k8sClient.Status().Update(context.Background(), j)
	})
}

// advance steps the fake clock and wakes the site, as its timer would.
func (s *site) advance(d time.Duration) {
	fakeClock.Step(d)
	wake <- event.GenericEvent{Object: s.get()}
}

func kstatusOf(t *testing.T, obj runtime.Object) status.Status {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatalf("kstatus: %v", err)
	}
	return res.Status
}

func condition(sd *v1.SiteDeployment, t string) *metav1.Condition {
	return apimeta.FindStatusCondition(sd.Status.Conditions, t)
}

type batchJob = batchv1.Job

func ctxBG() context.Context { return context.Background() }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
