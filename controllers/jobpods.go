package controllers

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/understudy-dev/understudy/internal/bluegreen"
	"github.com/understudy-dev/understudy/internal/poddiag"
)

// jobPods lists the pods of a Job, past the cache (the pod cache holds
// only the sites' Deployment pods).
func jobPods(ctx context.Context, reader client.Reader, job *batchv1.Job) ([]corev1.Pod, error) {
	selector := labels.SelectorFromSet(labels.Set{batchv1.JobNameLabel: job.Name})
	if job.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("cannot read the selector of Job %s: %w", job.Name, err)
		}
		selector = s
	}
	var pods corev1.PodList
	if err := reader.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("cannot list the pods of Job %s: %w", job.Name, err)
	}
	return pods.Items, nil
}

// jobFailures reads, for each failed check or migration Job of a site,
// what its pods said when they failed (the failing container's reason,
// exit code and last log lines), for the planner's failure messages.
func (r *SiteDeploymentReconciler) jobFailures(ctx context.Context, jobs map[string]*batchv1.Job) (map[string]string, error) {
	var out map[string]string
	for _, name := range bluegreen.FailedJobs(jobs) {
		pods, err := jobPods(ctx, r.Reader, jobs[name])
		if err != nil {
			return nil, err
		}
		if why, ok := poddiag.Newest(pods, r.Clock.Now()); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = why.String()
		}
	}
	return out, nil
}
