//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/pgtest"
)

// firstScheduledRefresh creates dr and waits for its CronJob's first Job
// to complete, its pod to have run the runner, and status to report that
// refresh as Succeeded.
func firstScheduledRefresh(t *testing.T, c client.Client, dr *deployv1alpha1.DatabaseRefresh) (*batchv1.Job, *deployv1alpha1.DatabaseRefresh) {
	t.Helper()
	if err := c.Create(context.Background(), dr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	Eventually(t, 150*time.Second, "a completed Job of the CronJob", func() (bool, error) {
		return cronJobDone(t, dr.Namespace) != nil, fmt.Errorf("none complete yet")
	})
	job := cronJobDone(t, dr.Namespace)
	t.Logf("CronJob's Job %s complete %s after the DatabaseRefresh was created", job.Name, time.Since(start).Round(time.Second))
	checkRunnerPod(t, dr.Namespace, job.Name)
	return job, waitRefreshed(t, c, dr.Namespace, dr.Name, job.Name)
}

// failedRefreshKeepsDev marks a row of dev, asks dr (suspended, and broken
// by the caller) for a refresh now, and waits for it to fail after job;
// dev must still have the marked row. It returns the status then.
func failedRefreshKeepsDev(t *testing.T, c client.Client, dr *deployv1alpha1.DatabaseRefresh, job string, dev *pgtest.Server, what string) *deployv1alpha1.DatabaseRefresh {
	t.Helper()
	psql(t, dev, "service0_dev", "UPDATE users SET email = 'kept@dev.invalid' WHERE id = 1")
	token := fmt.Sprint(time.Now().Unix())
	env.Kubectl(t, "-n", dr.Namespace, "annotate", "dbr", dr.Name, deployv1alpha1.AnnotationRefreshNow+"="+token, "--overwrite")
	failed := &deployv1alpha1.DatabaseRefresh{}
	Eventually(t, 90*time.Second, "the refresh "+what+" Failed", func() (bool, error) {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(dr), failed); err != nil {
			return false, err
		}
		lr := failed.Status.LastRefresh
		return failed.Status.LastRefreshNowToken == token && lr != nil && lr.Job != job && lr.Result == deployv1alpha1.RefreshFailed,
			fmt.Errorf("status %+v", failed.Status)
	})
	if n := queryInt(t, dev, "service0_dev", "SELECT count(*) FROM users WHERE email = 'kept@dev.invalid'"); n != 1 {
		t.Errorf("dev changed by a failed refresh %s", what)
	}
	return failed
}
