package bluegreen

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Observed is everything the planner may look at.
type Observed struct {
	Site *v1.SiteDeployment
	// Deployments of the two colors; a missing color is absent from the map.
	Deployments map[v1.Color]*appsv1.Deployment
	// ActiveService and PreviewService are nil until created.
	ActiveService, PreviewService *corev1.Service
	// Jobs are the site's check and migration Jobs by name.
	Jobs map[string]*batchv1.Job
	// JobFailures says, for the failed Jobs (FailedJobs), what their pods
	// said: the failing container's reason, exit code and termination
	// message (its last log lines), by Job name.
	JobFailures map[string]string
	// Templates are the stored revisions (ControllerRevisions) by
	// revision; nil for one whose template cannot be decoded.
	Templates map[string]*corev1.PodTemplateSpec
	Now       time.Time
	// Database is what the server says about the site's databases; nil
	// without spec.database.
	Database *DatabaseObserved
	// Pods are the pods of each color, as the manager's pod cache shows
	// them (pods.go); a color without pods seen is absent.
	Pods map[v1.Color][]PodImages
	// Resolved is the registry's answer to the plan's Resolve, when the
	// controller decides again with it.
	Resolved *Resolution
	// NotReady are the pods of each color that are not becoming ready,
	// as the manager's pod cache shows them (see PodProblem).
	NotReady map[v1.Color][]PodProblem
	// Upstreams are spec.promotion.upstreams as read, in spec order.
	Upstreams []Upstream
	// Group are the other members of the site's release group
	// (spec.strategy.group, same namespace), as the cache shows them.
	Group []*v1.SiteDeployment
	// Measurements are what the controller measured of the running
	// analyses (DueMeasurements) for this decision.
	Measurements []Measured
}

// revisionOf is the revision a Deployment's pod template carries.
func revisionOf(d *appsv1.Deployment) string {
	if d == nil {
		return ""
	}
	return d.Spec.Template.Labels[v1.LabelRevision]
}

// readyAt tells whether a Deployment runs exactly n pods of revision rev, all
// available, as observed by the Deployment controller for its latest spec.
func readyAt(d *appsv1.Deployment, rev string, n int32) bool {
	if d == nil || revisionOf(d) != rev || d.Spec.Replicas == nil || *d.Spec.Replicas != n {
		return false
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation &&
		s.Replicas == n && s.UpdatedReplicas == n && s.AvailableReplicas == n
}

// servedBy reads the color and revision a Service selects; empty when the
// Service is missing or not ours.
func servedBy(svc *corev1.Service) (v1.Color, string) {
	if svc == nil {
		return "", ""
	}
	return v1.Color(svc.Spec.Selector[v1.LabelColor]), svc.Spec.Selector[v1.LabelRevision]
}

// jobState is the outcome of a check Job so far.
type jobState int

const (
	jobMissing jobState = iota
	jobRunning
	jobSucceeded
	jobFailed
)

// FailedJobs names the Jobs that failed, whose pods the controller reads
// for Observed.JobFailures.
func FailedJobs(jobs map[string]*batchv1.Job) []string {
	var out []string
	for name, j := range jobs {
		if state, _ := checkState(j); state == jobFailed {
			out = append(out, name)
		}
	}
	return out
}

// checkState reads a Job. Only the Job's Complete condition is success: a
// check whose pod crashed or was killed ends Failed, never passed.
func checkState(j *batchv1.Job) (jobState, string) {
	if j == nil {
		return jobMissing, ""
	}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return jobSucceeded, ""
		case batchv1.JobFailed:
			msg := c.Reason
			if c.Message != "" {
				msg += ": " + c.Message
			}
			return jobFailed, msg
		}
	}
	return jobRunning, ""
}

// jobFailure is why the failed Job name failed: why (its Failed
// condition), what its pod said (the failing container's last log lines,
// Observed.JobFailures) and where to read the rest.
func (p *planner) jobFailure(name, why string) string {
	if pod := p.in.JobFailures[name]; pod != "" {
		why += "; " + pod
	}
	return why + "; " + p.jobLogs(name)
}

// jobLogs names the command that shows a Job's logs.
func (p *planner) jobLogs(name string) string {
	return fmt.Sprintf("see kubectl logs job/%s -n %s", name, p.site.Namespace)
}
