package plugin

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshjob"
)

// RefreshRun is one refresh Job as `refresh history` shows it: its record
// as the controller would write it (from the runner's result in the pod's
// termination message), or Running.
type RefreshRun struct {
	Record  v1.RefreshRecord
	Running bool
}

// refreshRuns reads the refresh Jobs the cluster still keeps (the
// CronJob's history limits and refresh-now Jobs) and their runner pods.
func refreshRuns(ctx context.Context, c client.Client, dbr *v1.DatabaseRefresh) ([]RefreshRun, error) {
	sel := client.MatchingLabels(refreshjob.Labels(dbr))
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(dbr.Namespace), sel); err != nil {
		return nil, fmt.Errorf("cannot list the refresh Jobs: %w", err)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(dbr.Namespace), sel); err != nil {
		return nil, fmt.Errorf("cannot list the runner pods: %w", err)
	}
	byJob := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		job := p.Labels[batchv1.JobNameLabel]
		byJob[job] = append(byJob[job], p)
	}
	runs := make([]RefreshRun, 0, len(jobs.Items))
	for i := range jobs.Items {
		j := &jobs.Items[i]
		o := refreshjob.ObserveJob(j, metav1.IsControlledBy(j, dbr))
		if !o.Finished() {
			runs = append(runs, RefreshRun{Running: true,
				Record: v1.RefreshRecord{Job: o.Name, StartedAt: &metav1.Time{Time: o.Start}}})
			continue
		}
		res, _ := refreshjob.ResultFromPods(byJob[j.Name])
		runs = append(runs, RefreshRun{Record: refreshjob.Finished{Job: o, Result: res}.Record()})
	}
	sort.Slice(runs, func(a, b int) bool { return runs[a].Record.StartedAt.After(runs[b].Record.StartedAt.Time) })
	return runs, nil
}

// WriteRefreshHistory prints the kept refresh Jobs, newest first.
func WriteRefreshHistory(w io.Writer, runs []RefreshRun, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTARTED\tDURATION\tRESULT\tSOURCE\tMESSAGE")
	for _, r := range runs {
		rec, result, took := r.Record, string(r.Record.Result), "-"
		if r.Running {
			result = "Running"
		} else if rec.StartedAt != nil && rec.FinishedAt != nil {
			took = rec.FinishedAt.Sub(rec.StartedAt.Time).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rec.Job, ago(rec.StartedAt, now), took, or(result, "-"), or(rec.Source, "-"), or(rec.Message, "-"))
	}
	if len(runs) == 0 {
		fmt.Fprintln(tw, "(no refresh Job kept)\t\t\t\t\t")
	}
	return tw.Flush()
}
