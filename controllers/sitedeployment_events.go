package controllers

import (
	"fmt"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// event records an event about site's release (action "Release"): the
// plan's events, and what the database steps and the finalizer did.
func (r *SiteDeploymentReconciler) event(site *v1.SiteDeployment, warning bool, reason, format string, args ...any) {
	kind := "Normal"
	if warning {
		kind = "Warning"
	}
	r.Recorder.Eventf(site, nil, kind, reason, "Release", "%s", fmt.Sprintf(format, args...))
}
