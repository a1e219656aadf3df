// Package refreshjob owns the pure decisions of the DatabaseRefresh
// controller: the names of its children, the CronJob, Job and sanitize
// ConfigMap rendered from a spec, the next run of a schedule in its time
// zone, and the status (conditions, last refresh, events, SiteDeployment
// restart) that follows from the Jobs the controller observed. Decide is
// the whole decision of one reconcile, on what the controller read
// (Observed) without writing. It imports no client: the controller
// observes, asks Decide, and applies the plan step by step.
package refreshjob
