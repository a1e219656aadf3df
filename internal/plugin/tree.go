package plugin

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/poddiag"
)

// Observed is what the tree shows of a site: its Deployments by color, its
// Services and its check Jobs.
type Observed struct {
	Site        *v1.SiteDeployment
	Deployments map[v1.Color]*appsv1.Deployment
	Services    []*corev1.Service
	Jobs        []batchv1.Job
	// Pods are the pods of the site's Deployments, newest first; nil with
	// PodsHidden, when the user may not list pods.
	Pods       []corev1.Pod
	PodsHidden bool
}

func observe(ctx context.Context, c client.Client, site *v1.SiteDeployment) (*Observed, error) {
	o := &Observed{Site: site, Deployments: map[v1.Color]*appsv1.Deployment{}}
	for _, color := range []v1.Color{v1.Blue, v1.Green} {
		d := &appsv1.Deployment{}
		err := c.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: bluegreen.DeploymentName(site.Name, color)}, d)
		if err == nil {
			o.Deployments[color] = d
		} else if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("cannot read the %s Deployment: %w", color, err)
		}
	}
	for _, name := range []string{bluegreen.ActiveServiceName(site), bluegreen.PreviewServiceName(site)} {
		s := &corev1.Service{}
		err := c.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: name}, s)
		if err == nil {
			o.Services = append(o.Services, s)
		} else if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("cannot read Service %s: %w", name, err)
		}
	}
	jobs := &batchv1.JobList{}
	if err := c.List(ctx, jobs, client.InNamespace(site.Namespace), client.MatchingLabels{v1.LabelSite: site.Name}); err != nil {
		return nil, fmt.Errorf("cannot list the check Jobs: %w", err)
	}
	o.Jobs = jobs.Items
	sort.Slice(o.Jobs, func(i, j int) bool { return o.Jobs[i].Name < o.Jobs[j].Name })
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(site.Namespace), client.MatchingLabels{v1.LabelSite: site.Name},
		client.HasLabels{v1.LabelColor}); apierrors.IsForbidden(err) {
		o.PodsHidden = true
	} else if err != nil {
		return nil, fmt.Errorf("cannot list the pods: %w", err)
	}
	o.Pods = pods.Items
	sort.Slice(o.Pods, func(i, j int) bool { return o.Pods[j].CreationTimestamp.Before(&o.Pods[i].CreationTimestamp) })
	return o, nil
}

// podsOf counts the Ready pods of a color that run rev (the Deployment's
// own count includes the pods of the revision the color ran before, while
// a candidate replaces them), and says why the others are not becoming
// ready (poddiag).
func (o *Observed) podsOf(color v1.Color, rev string, now time.Time) (ready int32, problems []string) {
	for i := range o.Pods {
		p := &o.Pods[i]
		if p.Labels[v1.LabelColor] != string(color) || p.Labels[v1.LabelRevision] != rev || p.DeletionTimestamp != nil {
			continue
		}
		if podReady(p) {
			ready++
		} else if pr, ok := poddiag.Of(p, now); ok {
			problems = append(problems, pr.String())
		}
	}
	return ready, problems
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// WriteTree renders the site as a tree: each color with its revision,
// images, ready/desired and role, the database step, the Services'
// selectors and the check Jobs with their result.
func WriteTree(w io.Writer, o *Observed, now time.Time) {
	site, st := o.Site, &o.Site.Status
	fmt.Fprintf(w, "SiteDeployment %s/%s  %s  %s  (age %s)\n", site.Namespace, site.Name, or(string(st.Phase), "-"), st.Message, age(site.CreationTimestamp.Time, now))
	for _, color := range []v1.Color{v1.Blue, v1.Green} {
		d := o.Deployments[color]
		if d == nil {
			fmt.Fprintf(w, "├── %s: none\n", color)
			continue
		}
		rev := d.Spec.Template.Labels[v1.LabelRevision]
		var desired int32
		if d.Spec.Replicas != nil {
			desired = *d.Spec.Replicas
		}
		ready, problems := o.podsOf(color, rev, now)
		if o.PodsHidden {
			ready = d.Status.AvailableReplicas
		}
		fmt.Fprintf(w, "├── %s  revision %s  %d/%d ready  %s  (age %s)\n", color, or(rev, "-"), ready, desired,
			role(site, color, rev, desired, now), age(d.CreationTimestamp.Time, now))
		fmt.Fprintf(w, "│   images: %s\n", strings.Join(bluegreen.Images(&d.Spec.Template), ", "))
		for _, p := range problems {
			fmt.Fprintf(w, "│   not ready: %s\n", p)
		}
		if db := st.Database; db != nil && db.Name(color) != "" {
			fmt.Fprintf(w, "│   database: %s\n", db.Name(color))
		}
	}
	if db := st.Database; db != nil && db.Candidate != nil {
		stage := ""
		if db.Candidate.Stage != "" {
			stage = string(db.Candidate.Stage) + ", "
		}
		fmt.Fprintf(w, "├── database %sstep %s: %s for %s (schema %s)\n", stage, db.Candidate.Step, db.Candidate.Name, db.Candidate.Color, db.Candidate.SchemaRevision)
	}
	if pr := st.Promotion; pr != nil {
		writeGate(w, pr, now)
	}
	writeAnalysis(w, st.Analysis, now)
	for _, s := range o.Services {
		fmt.Fprintf(w, "├── Service %s  selects %s=%s %s=%s\n", s.Name, v1.LabelColor, s.Spec.Selector[v1.LabelColor], v1.LabelRevision, s.Spec.Selector[v1.LabelRevision])
	}
	for _, j := range o.Jobs {
		fmt.Fprintf(w, "├── Job %s  %s  %s  (age %s)\n", j.Name, or(j.Labels[v1.LabelCheck], "migration"), jobResult(&j), age(j.CreationTimestamp.Time, now))
	}
	fmt.Fprintf(w, "└── history: %d revisions (kubectl understudy history %s)\n", len(st.History), site.Name)
}

// writeGate shows the promotion gate's decision: each upstream, the
// revision it judged by (live now, or served until it moved on), and
// whether and why it qualifies the revision.
func writeGate(w io.Writer, pr *v1.PromotionStatus, now time.Time) {
	fmt.Fprintf(w, "├── promotion gate for %s: %s\n", pr.Revision, or(string(pr.Gate), "waiting"))
	for _, u := range pr.Upstreams {
		verdict := "qualifies"
		if !u.Qualified {
			verdict = "does not qualify"
		}
		live := "live since " + ago(u.LiveSince, now)
		if u.LiveUntil != nil {
			live = "served from " + ago(u.LiveSince, now) + " until " + ago(u.LiveUntil, now)
		}
		fmt.Fprintf(w, "│   upstream %s/%s  revision %s  %s  %s  %s\n", u.Namespace, u.Name, or(u.Revision, "-"),
			or(strings.Join(u.Images, ", "), "-"), live, verdict)
		if u.Message != "" {
			fmt.Fprintf(w, "│     %s\n", u.Message)
		}
	}
}

// role names what a color does: active, preview, warm until, scaled down.
func role(site *v1.SiteDeployment, color v1.Color, rev string, desired int32, now time.Time) string {
	st := &site.Status
	switch {
	case color == st.ActiveColor && rev == st.ActiveRevision:
		return "active"
	case rev != "" && rev == Candidate(st):
		return "preview"
	case desired == 0:
		return "scaled down"
	case rev == st.AbortedRevision:
		return "aborted"
	case st.PostPromotionRevision != "":
		return "warm until the post-promotion check passes"
	case st.LastSwitchTime != nil:
		delay := 10 * time.Minute
		if d := site.Spec.Strategy.ScaleDownDelay; d != nil {
			delay = d.Duration
		}
		return "warm until " + st.LastSwitchTime.Add(delay).UTC().Format(time.RFC3339)
	}
	return "idle"
}

func jobResult(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			if c.Type == batchv1.JobComplete {
				return "passed"
			}
			return "failed: " + or(c.Reason, c.Message)
		}
	}
	return "running"
}

func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String()
}
