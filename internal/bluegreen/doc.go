// Package bluegreen is the pure decision logic of SiteDeployment releases.
// Plan takes what was observed (the SiteDeployment, its two Deployments, its
// Services, check Jobs and stored revisions, and the time) and returns what
// the cluster should look like next, the status to record, events and when
// to look again. It imports no client: the controller observes and applies.
//
// Safety invariant: a Service selector only ever moves to a color whose
// Deployment has all desired replicas available for the selected revision.
package bluegreen
