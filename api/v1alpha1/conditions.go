package v1alpha1

// Condition types. Ready, Progressing and Degraded are the user-facing
// summary; Reconciling and Stalled mirror Progressing and Degraded under the
// names kstatus (sigs.k8s.io/cli-utils/pkg/kstatus) reads, so that Argo CD,
// Flux and `kubectl wait` see InProgress and Failed without custom scripts.
const (
	// ConditionReady is True when the object is in the state its spec asks for.
	ConditionReady = "Ready"
	// ConditionProgressing is True while the controller works towards the spec.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the last attempt failed and needs a person.
	ConditionDegraded = "Degraded"
	// ConditionReconciling is the kstatus name of Progressing.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is the kstatus name of Degraded.
	ConditionStalled = "Stalled"
)

// Condition reasons shared by both kinds.
const (
	// ReasonSucceeded: the spec is fully realised.
	ReasonSucceeded = "Succeeded"
	// ReasonPaused: spec.paused or spec.suspend stops all action.
	ReasonPaused = "Paused"
	// ReasonInvalidSpec: the spec passed the API server but cannot be acted on.
	ReasonInvalidSpec = "InvalidSpec"
)

// SiteDeployment condition reasons. Without one of these, a
// SiteDeployment's conditions give its phase as their reason (Pending,
// Progressing, Promoting, AwaitingPromotion, Degraded, Aborted).
// AwaitingUpstream always has the reason UpstreamNotQualified.
const (
	// ReasonPrePromotionFailed: the pre-promotion check Job failed; the candidate was aborted.
	ReasonPrePromotionFailed = "PrePromotionFailed"
	// ReasonPostPromotionFailed: the post-promotion check failed; traffic went back.
	ReasonPostPromotionFailed = "PostPromotionFailed"
	// ReasonSoakFailed: a soak metric check failed during autoPromoteAfter;
	// the candidate was aborted before the switch.
	ReasonSoakFailed = "SoakFailed"
	// ReasonAnalysisInconclusive: a metric check was inconclusive (no
	// data, an error, a server that did not answer) more often than its
	// inconclusiveLimit; the release holds until a person acts.
	ReasonAnalysisInconclusive = "AnalysisInconclusive"
	// ReasonCheckTimedOut: a check Job ran longer than its timeout.
	ReasonCheckTimedOut = "CheckTimedOut"
	// ReasonProgressDeadlineExceeded: the candidate was not available in time.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ReasonGroupMemberFailed: another member of the site's release group
	// failed (a check, a deadline, an abort); this site went back with it.
	ReasonGroupMemberFailed = "GroupMemberFailed"
	// ReasonGroupSchemaChange: a release that changes the database schema
	// cannot be part of a release group; it does not start.
	ReasonGroupSchemaChange = "GroupSchemaChange"
	// ReasonAborted: a person aborted the revision with the abort annotation.
	ReasonAborted = "Aborted"
	// ReasonCopyFailed: the new color's copy of the database could not be made.
	ReasonCopyFailed = "CopyFailed"
	// ReasonMigrationFailed: the migration Job failed.
	ReasonMigrationFailed = "MigrationFailed"
	// ReasonMigrationTimedOut: the migration Job ran longer than its timeout.
	ReasonMigrationTimedOut = "MigrationTimedOut"
	// ReasonReplicationUnsupported: a Replicated cutover with
	// onUnsupported Fail found what replication cannot carry (the server,
	// a table, or the migration); nothing was frozen.
	ReasonReplicationUnsupported = "ReplicationUnsupported"
	// ReasonCatchUpFailed: a Replicated cutover's next database did not
	// catch up (lag before the freeze within copyTimeout, or the last
	// writes within catchUpTimeout); the live side is writable again.
	ReasonCatchUpFailed = "CatchUpFailed"
	// ReasonDatabaseError: a database step failed in a way a person must resolve.
	ReasonDatabaseError = "DatabaseError"
	// ReasonDatabaseAmbiguous: a site without a database in status found
	// several of its databases on the server and will not guess the live one.
	ReasonDatabaseAmbiguous = "DatabaseAmbiguous"
	// ReasonImageDigestMismatch: the candidate's preview pods run different
	// digests of one image (its tag moved while they started); the release
	// holds, since the bits to check and pin are not one set.
	ReasonImageDigestMismatch = "ImageDigestMismatch"
	// ReasonCandidateNotReady: a pod of the candidate is not becoming
	// ready; the message names it, its container's waiting reason and
	// last termination message. The release waits (until its deadline).
	ReasonCandidateNotReady = "CandidateNotReady"
	// ReasonUpstreamNotQualified: spec.promotion holds the release: an
	// upstream site does not run its images (or schema revision), or not
	// yet for minLiveDuration, or cannot be read; the message names it
	// and what it runs.
	ReasonUpstreamNotQualified = "UpstreamNotQualified"
)

// DatabaseRefresh condition reasons.
const (
	// ReasonRefreshFailed: the last refresh Job failed; dev keeps its previous copy.
	ReasonRefreshFailed = "RefreshFailed"
	// ReasonRefreshRunning: a refresh Job is running.
	ReasonRefreshRunning = "RefreshRunning"
	// ReasonRefreshFailing: the running refresh Job's pod cannot start or an
	// attempt failed; dev keeps its current copy.
	ReasonRefreshFailing = "RefreshFailing"
	// ReasonScheduled: the CronJob is in place and waits for its next run.
	ReasonScheduled = "Scheduled"
)

// Annotations that carry user actions and cross-controller requests.
const (
	// AnnotationPromote approves the candidate revision it names.
	AnnotationPromote = "deploy.understudy.dev/promote"
	// AnnotationAbort rejects the revision it names.
	AnnotationAbort = "deploy.understudy.dev/abort"
	// AnnotationSkipPromotionGate releases the revision it names past
	// spec.promotion's gate (a hotfix): answered in status.actions, a
	// Warning event and history's promotionGate: Skipped record it.
	AnnotationSkipPromotionGate = "deploy.understudy.dev/skip-promotion-gate"
	// AnnotationRefreshNow starts one refresh per distinct value.
	AnnotationRefreshNow = "deploy.understudy.dev/refresh-now"
	// AnnotationRestartedAt asks a SiteDeployment to restart its pods; set by
	// the DatabaseRefresh controller after a swap, honoured by the
	// SiteDeployment controller without a change of revision.
	AnnotationRestartedAt = "deploy.understudy.dev/restarted-at"
	// AnnotationPreviewSettings marks the pods of a candidate that run with
	// spec.strategy.preview (its value is a hash of them): they are not
	// what takes traffic.
	AnnotationPreviewSettings = "deploy.understudy.dev/preview-settings"
)

// Labels on the objects the controllers own.
const (
	// LabelSite names the SiteDeployment a pod, Deployment, Job or revision belongs to.
	LabelSite = "deploy.understudy.dev/site"
	// LabelColor is blue or green.
	LabelColor = "deploy.understudy.dev/color"
	// LabelRevision is the revision (template hash) a pod runs.
	LabelRevision = "deploy.understudy.dev/revision"
	// LabelCheck names the check (pre-promotion, post-promotion) a Job runs.
	LabelCheck = "deploy.understudy.dev/check"
	// LabelMigration marks a migration Job; its value is the color it upgrades.
	LabelMigration = "deploy.understudy.dev/migration"
	// LabelRefresh names the DatabaseRefresh a CronJob, Job or ConfigMap belongs to.
	LabelRefresh = "deploy.understudy.dev/refresh"
)
