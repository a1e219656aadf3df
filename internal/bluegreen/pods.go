package bluegreen

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The switch at the speed of the pods: traffic follows pod readiness
// (EndpointSlices route to a pod once it is Ready), so a candidate is
// ready the moment the pods the manager watches say so, without waiting
// for kube-controller-manager to write its ReplicaSet's and then its
// Deployment's status. The Deployment's status decides only when no pod
// of the color was seen (a cluster without kubelets, as envtest).

// PodImages is one pod of a color as the manager's pod cache keeps it: its
// revision, its readiness, the template it was made from (preview
// settings, restart), and each container's imageID as the kubelet
// reports it. Terminating pods are left out.
type PodImages struct {
	Name     string
	Revision string
	Ready    bool
	// ReadySince is when it turned Ready (its Ready condition's
	// lastTransitionTime); zero when unknown.
	ReadySince time.Time
	// Preview is its preview settings mark (PreviewOf); RestartedAt its
	// restart annotation.
	Preview, RestartedAt string
	ImageIDs             map[string]string
}

// runsReady tells whether color runs revision rev at n replicas on the
// template the planner wants (preview settings mark, pinned images), every
// pod Ready for the Deployment's minReadySeconds, and no pod of rev on
// another template left: the selector names the revision, not the
// template, so a preview pod still running would take traffic.
func (p *planner) runsReady(color v1.Color, rev string, n int32, preview string, pins map[string]string) bool {
	d := p.in.Deployments[color]
	if d == nil || revisionOf(d) != rev || ptr.Deref(d.Spec.Replicas, -1) != n || PreviewOf(&d.Spec.Template) != preview ||
		!runsPinned(d, pins) {
		return false
	}
	pods := p.in.Pods[color]
	if len(pods) == 0 {
		return readyAt(d, rev, n)
	}
	return p.readyPods(pods, d, pins) >= n && !hasStrays(pods, d, pins)
}

// readyPods counts the pods of d's template (revision, preview settings,
// restart, pinned digests) that are Ready for d's minReadySeconds, and
// wakes the planner when the next one will be.
func (p *planner) readyPods(pods []PodImages, d *appsv1.Deployment, pins map[string]string) int32 {
	minReady := time.Duration(d.Spec.MinReadySeconds) * time.Second
	t := templateOf(d, pins)
	var n int32
	for _, pod := range pods {
		if !pod.Ready || pod.Revision != t.revision || !t.made(pod) {
			continue
		}
		if until := pod.ReadySince.Add(minReady); minReady > 0 && p.now.Before(until) {
			p.wakeAt(until)
			continue
		}
		n++
	}
	return n
}

// hasStrays tells whether a pod of d's revision runs another template (the
// preview settings, an earlier restart, other digests): until it is gone,
// the revision's selector would send traffic to it too.
func hasStrays(pods []PodImages, d *appsv1.Deployment, pins map[string]string) bool {
	t := templateOf(d, pins)
	for _, pod := range pods {
		if pod.Revision == t.revision && !t.made(pod) {
			return true
		}
	}
	return false
}

// podTemplate is what tells a Deployment's current pods from its earlier
// ones of the same revision.
type podTemplate struct {
	revision, preview, restart string
	pins                       map[string]string
}

func templateOf(d *appsv1.Deployment, pins map[string]string) podTemplate {
	return podTemplate{revisionOf(d), PreviewOf(&d.Spec.Template), d.Spec.Template.Annotations[v1.AnnotationRestartedAt], pins}
}

// made: the pod was made from this template (preview settings, restart
// mark) and runs its pinned digests.
func (t podTemplate) made(pod PodImages) bool {
	return pod.Preview == t.preview && pod.RestartedAt == t.restart && onPins(pod, t.pins)
}

// onPins: the pod runs the pinned digests. A runtime that reports no
// digest for a container is taken at its template's word (every kubelet
// reports one; only stand-ins such as kwok may not).
func onPins(pod PodImages, pins map[string]string) bool {
	for container, ref := range pins {
		got := digestOf(pod.ImageIDs[container])
		if got != "" && got != digestOf(ref) {
			return false
		}
	}
	return true
}

// candidateReady: the candidate runs at stage s's size on that stage's
// template, every pod Ready.
func (p *planner) candidateReady(c *candidate, s candidateStage) bool {
	return p.runsReady(c.idle, c.target, candidateSize(s, c.full, c.previewSize), PreviewHash(p.previewAt(c, s)), p.pinsAt(c, s))
}

// available is how many of color's pods are Ready on its Deployment's
// template (its status's count when no pod was seen): the READY column and
// the scale subresource agree with the phase, and do not change again
// when kube-controller-manager catches up.
func (p *planner) available(color v1.Color) int32 {
	d := p.in.Deployments[color]
	switch {
	case d == nil:
		return 0
	case len(p.in.Pods[color]) == 0:
		return d.Status.AvailableReplicas
	default:
		return p.readyPods(p.in.Pods[color], d, nil)
	}
}

// replicas is how many pods color runs (its Deployment's status's count
// when no pod was seen).
func (p *planner) replicas(color v1.Color) int32 {
	if pods := p.in.Pods[color]; len(pods) > 0 {
		return int32(len(pods))
	}
	return p.in.Deployments[color].Status.Replicas
}
