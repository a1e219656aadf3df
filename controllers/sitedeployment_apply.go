package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/kmeta"
)

// apply makes the plan true, writing only what differs from what was observed.
func (r *SiteDeploymentReconciler) apply(ctx context.Context, run *siteRun) error {
	site, o, plan := run.site, run.observed, run.plan
	if err := r.saveRevisions(ctx, site, run.revisions, plan); err != nil {
		return err
	}
	for _, intent := range plan.Deployments {
		if err := r.applyDeployment(ctx, site, o.Deployments[intent.Color], intent, plan.RestartedAt); err != nil {
			return err
		}
	}
	for _, s := range []struct {
		intent   *bluegreen.ServiceIntent
		observed *corev1.Service
	}{{plan.Active, o.ActiveService}, {plan.Preview, o.PreviewService}} {
		if s.intent == nil {
			continue
		}
		if err := r.applyService(ctx, site, s.observed, *s.intent); err != nil {
			return err
		}
	}
	for _, job := range plan.Jobs {
		if o.Jobs[job.Name] != nil {
			continue
		}
		if err := controllerutil.SetControllerReference(site, job, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot create check job %s: %w", job.Name, err)
		}
	}
	return nil
}

func (r *SiteDeploymentReconciler) applyDeployment(ctx context.Context, site *v1.SiteDeployment, d *appsv1.Deployment, in bluegreen.DeploymentIntent, restartedAt string) error {
	name := bluegreen.DeploymentName(site.Name, in.Color)
	if d == nil {
		if in.Template == nil {
			return nil
		}
		d = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: site.Namespace}}
		setDeployment(d, site, in, restartedAt)
		if err := controllerutil.SetControllerReference(site, d, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, d); err != nil {
			return fmt.Errorf("cannot create deployment %s: %w", name, r.createFailed(ctx, site, &appsv1.Deployment{}, d, err))
		}
		return nil
	}
	want := d.DeepCopy()
	setDeployment(want, site, in, restartedAt)
	if equality.Semantic.DeepEqual(want.Spec, d.Spec) {
		return nil
	}
	if !equality.Semantic.DeepEqual(want.Spec.Template, d.Spec.Template) {
		// The cache keeps a slim pod template (slimDeployment): a new or
		// changed one is written onto the whole object, read past it.
		live := &appsv1.Deployment{}
		if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(d), live); err != nil {
			return fmt.Errorf("cannot read deployment %s: %w", name, err)
		}
		d, want = live, live.DeepCopy()
		setDeployment(want, site, in, restartedAt)
	}
	if err := r.Patch(ctx, want, client.MergeFrom(d)); err != nil {
		return fmt.Errorf("cannot update deployment %s: %w", name, err)
	}
	return nil
}

// setDeployment writes an intent into a Deployment: a new template only
// when the revision or its preview settings change, so the active color is
// only ever resized, and the pinned images (image@digest) the intent names.
func setDeployment(d *appsv1.Deployment, site *v1.SiteDeployment, in bluegreen.DeploymentIntent, restartedAt string) {
	sel := map[string]string{v1.LabelSite: site.Name, v1.LabelColor: string(in.Color)}
	d.Labels = kmeta.Merge(d.Labels, sel)
	if d.Spec.Selector == nil {
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: sel}
	}
	replicas := in.Replicas
	d.Spec.Replicas = &replicas
	if in.Template != nil && (d.Spec.Template.Labels[v1.LabelRevision] != in.Revision ||
		bluegreen.PreviewOf(&d.Spec.Template) != bluegreen.PreviewHash(in.Preview)) {
		t := in.Template.DeepCopy()
		t.Labels = kmeta.Merge(t.Labels, sel)
		t.Labels[v1.LabelRevision] = in.Revision
		if site.Spec.Database != nil {
			withDatabaseEnv(t, site.Name, in.Color)
		}
		bluegreen.WithPreview(t, in.Preview)
		d.Spec.Template = *t
	}
	bluegreen.PinImages(&d.Spec.Template, in.Images)
	if restartedAt != "" && d.Spec.Template.Annotations[v1.AnnotationRestartedAt] != restartedAt {
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations[v1.AnnotationRestartedAt] = restartedAt
	}
	zero, surge := intstr.FromInt32(0), intstr.FromString("25%")
	d.Spec.Strategy = appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &surge},
	}
}

func (r *SiteDeploymentReconciler) applyService(ctx context.Context, site *v1.SiteDeployment, svc *corev1.Service, in bluegreen.ServiceIntent) error {
	ports := make([]corev1.ServicePort, 0, len(site.Spec.Service.Ports))
	for _, p := range site.Spec.Service.Ports {
		sp := corev1.ServicePort{Name: p.Name, Port: p.Port, Protocol: p.Protocol, TargetPort: intstr.FromInt32(p.Port)}
		if p.TargetPort != nil {
			sp.TargetPort = *p.TargetPort
		}
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		ports = append(ports, sp)
	}
	if svc == nil {
		svc = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: in.Name, Namespace: site.Namespace,
			Labels: map[string]string{v1.LabelSite: site.Name}}}
		svc.Spec = corev1.ServiceSpec{Type: site.Spec.Service.Type, Ports: ports, Selector: in.Selector(site.Name)}
		if err := controllerutil.SetControllerReference(site, svc, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, svc); err != nil {
			return fmt.Errorf("cannot create service %s: %w", in.Name, r.createFailed(ctx, site, &corev1.Service{}, svc, err))
		}
		return nil
	}
	want := svc.DeepCopy()
	want.Spec.Selector = in.Selector(site.Name)
	if site.Spec.Service.Type != "" {
		want.Spec.Type = site.Spec.Service.Type
	}
	if !samePorts(svc.Spec.Ports, ports) {
		want.Spec.Ports = ports
	}
	if equality.Semantic.DeepEqual(want.Spec, svc.Spec) {
		return nil
	}
	if err := r.Patch(ctx, want, client.MergeFrom(svc)); err != nil {
		return fmt.Errorf("cannot switch service %s: %w", in.Name, err)
	}
	return nil
}

// samePorts compares the fields we set, ignoring what the API server fills in.
func samePorts(have, want []corev1.ServicePort) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		h, w := have[i], want[i]
		if h.Name != w.Name || h.Port != w.Port || h.Protocol != w.Protocol || h.TargetPort != w.TargetPort {
			return false
		}
	}
	return true
}

// saveRevisions stores new revisions as ControllerRevisions (so that an
// aborted release can restart the previous one) and drops the ones the
// plan drops; have are the stored ones, as observed.
func (r *SiteDeploymentReconciler) saveRevisions(ctx context.Context, site *v1.SiteDeployment, have map[string]*appsv1.ControllerRevision, plan bluegreen.Plan) error {
	var next int64
	for _, cr := range have {
		next = max(next, cr.Revision)
	}
	revs := make([]string, 0, len(plan.Revisions))
	for rev := range plan.Revisions {
		revs = append(revs, rev)
	}
	sort.Strings(revs)
	for _, rev := range revs {
		if have[rev] != nil {
			continue
		}
		raw, err := json.Marshal(plan.Revisions[rev])
		if err != nil {
			return fmt.Errorf("cannot encode revision %s: %w", rev, err)
		}
		next++
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: site.Name + "-" + rev, Namespace: site.Namespace,
				Labels: map[string]string{v1.LabelSite: site.Name, v1.LabelRevision: rev}},
			Data:     runtime.RawExtension{Raw: raw},
			Revision: next,
		}
		if err := controllerutil.SetControllerReference(site, cr, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, cr); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot store revision %s: %w", rev, err)
		}
	}
	for _, rev := range plan.DropRevisions {
		if cr := have[rev]; cr != nil {
			if err := r.Delete(ctx, cr); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("cannot drop revision %s: %w", rev, err)
			}
		}
	}
	return nil
}
