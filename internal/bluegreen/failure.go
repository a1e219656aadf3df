package bluegreen

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/conditions"
)

// DatabaseFailed is the status of a site whose reconcile stopped on its
// database server (reading it, or a step that failed): phase Degraded,
// Ready False, Stalled and Degraded with reason DatabaseError, so kubectl
// and kstatus show the failure beside the message; everything else as the
// last decision left it, for the next one to go on from once the
// reconcile is retried.
func DatabaseFailed(site *v1.SiteDeployment, err error, now time.Time) v1.SiteDeploymentStatus {
	st := *site.Status.DeepCopy()
	msg := "database: " + err.Error()
	conditions.Set(&st.Conditions, conditions.Uniform(metav1.ConditionFalse, false, true, v1.ReasonDatabaseError, msg), site.Generation, now)
	st.Phase, st.Message = v1.PhaseDegraded, msg
	return st
}
