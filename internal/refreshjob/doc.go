// Package refreshjob owns the pure decisions of the DatabaseRefresh
// controller: the names of its children, the CronJob, Job and sanitize
// ConfigMap rendered from a spec, the next run of a schedule in its time
// zone, and the status (conditions, last refresh, events, SiteDeployment
// restart) that follows from the Jobs the controller observed. It imports no
// client: the controller observes, asks this package, applies and records.
package refreshjob
