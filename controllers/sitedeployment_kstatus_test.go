package controllers_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// A database step that fails in the middle of a release reads Failed to
// kstatus (Flux, Argo CD's default, kubectl wait), not InProgress: the
// release's Reconciling=True must not survive the failure.
func TestDatabaseErrorDuringAReleaseReadsFailed(t *testing.T) {
	srv := postgresServer(t)
	s, r1 := schemaSite(t, srv, "kst")
	s.update(func(sd *v1.SiteDeployment) { sd.Spec.Database.SchemaRevision = "2" })
	s.waitDatabase("a release under way", func(d *v1.DatabaseStatus) bool { return d.Candidate != nil })
	if got := kstatusOf(t, s.get()); got != status.InProgressStatus {
		t.Fatalf("kstatus during the release: %s", got)
	}
	admin := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shop-db-admin", Namespace: s.ns}}
	if err := k8sClient.Delete(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	eventually(t, "kstatus Failed with DatabaseError", func() error {
		sd := s.get()
		if got := kstatusOf(t, sd); got != status.FailedStatus {
			return fmt.Errorf("kstatus %s; conditions %+v", got, sd.Status.Conditions)
		}
		if c := condition(sd, v1.ConditionStalled); c.Reason != v1.ReasonDatabaseError {
			return fmt.Errorf("Stalled %+v", c)
		}
		return nil
	})
	if sd := s.get(); sd.Status.ActiveRevision != r1 {
		t.Fatalf("active revision %s, want %s", sd.Status.ActiveRevision, r1)
	}
}
