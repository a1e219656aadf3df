package v1alpha1

// Event reasons of SiteDeployments. Events are emitted on transitions
// only; abort and check failures use the condition reasons in conditions.go
// (Aborted, PrePromotionFailed, ...) as their event reasons.
const (
	// EventCandidateStarted: a new revision is starting on the idle color.
	EventCandidateStarted = "CandidateStarted"
	// EventDigestsFromPods (Warning): the registry could not be asked for
	// the candidate's tags (the note says why); it starts on its tags, and
	// its digests are read from its Ready preview pods.
	EventDigestsFromPods = "DigestsFromPods"
	// EventNewAttempt: an aborted revision is released again because what
	// it ran with (the migration, a check, a deadline) changed.
	EventNewAttempt = "NewAttempt"
	// EventCandidateNotReady (Warning): a candidate's pod is not becoming
	// ready (it crashes, cannot pull its image, fails its readiness probe
	// or cannot be scheduled); the note names the pod and why.
	EventCandidateNotReady = "CandidateNotReady"
	// EventRollingBack: the previous revision is started again for a rollback.
	EventRollingBack = "RollingBack"
	// EventSuperseded: a newer spec.template replaced the candidate.
	EventSuperseded = "Superseded"
	// EventAvailable: the first revision is available and takes traffic.
	EventAvailable = "Available"
	// EventAnalysisSuccessful: a check's metric checks all passed; the note
	// gives the verdict. A failed one raises the check's failure reason
	// (PrePromotionFailed, SoakFailed, PostPromotionFailed), an
	// inconclusive one AnalysisInconclusive (Warning).
	EventAnalysisSuccessful = "AnalysisSuccessful"
	// EventGroupReady: the site's candidate is ready and waits for the
	// other members of its release group.
	EventGroupReady = "GroupReady"
	// EventGroupApproved: a promote-group annotation approved the site's candidate.
	EventGroupApproved = "GroupApproved"
	// EventSwitched: the active Service's selector moved to another color.
	EventSwitched = "Switched"
	// EventScaledDown: the idle color was scaled to zero.
	EventScaledDown = "ScaledDown"
	// EventActionRefused (Warning): a promote or abort annotation names a
	// revision it cannot apply to; status.actions says why.
	EventActionRefused = "ActionRefused"
	// EventAwaitingUpstream: spec.promotion holds a new revision until its
	// upstreams qualify it.
	EventAwaitingUpstream = "AwaitingUpstream"
	// EventUpstreamQualified: the upstreams qualified a held revision; it starts.
	EventUpstreamQualified = "UpstreamQualified"
	// EventPromotionGateSkipped (Warning): a revision started past the
	// promotion gate by the skip-promotion-gate annotation.
	EventPromotionGateSkipped = "PromotionGateSkipped"
	// EventDatabaseCreated: a site's first database was created empty.
	EventDatabaseCreated = "DatabaseCreated"
	// EventDatabaseAdopted: an existing database became the active color's.
	EventDatabaseAdopted = "DatabaseAdopted"
	// EventDatabaseReleaseStarted: a schema-changing release began freezing.
	EventDatabaseReleaseStarted = "DatabaseReleaseStarted"
	// EventDatabaseRehearsalStarted: a schema-changing release began its
	// rehearsal on a snapshot copy; the live database keeps taking writes.
	EventDatabaseRehearsalStarted = "DatabaseRehearsalStarted"
	// EventDatabaseRehearsalPassed: the candidate was migrated, started
	// and checked on the rehearsal copy; it awaits promotion.
	EventDatabaseRehearsalPassed = "DatabaseRehearsalPassed"
	// EventDatabaseCutoverStarted: the rehearsed release was promoted; the
	// cutover (freeze, final copy, migration, switch) begins.
	EventDatabaseCutoverStarted = "DatabaseCutoverStarted"
	// EventDatabaseReleaseCancelled: a schema-changing release ended before its switch.
	EventDatabaseReleaseCancelled = "DatabaseReleaseCancelled"
	// EventDatabaseCutoverFallback (Warning): a Replicated cutover runs as
	// a Copy cutover instead; the note says what replication cannot carry.
	EventDatabaseCutoverFallback = "DatabaseCutoverFallback"
	// EventDatabaseSwitched: the copy takes writes; the old database stays read-only.
	EventDatabaseSwitched = "DatabaseSwitched"
	// EventDatabaseMovedAside: a database holding the copy's name was renamed.
	EventDatabaseMovedAside = "DatabaseMovedAside"
	// EventDatabasesDropped: copies beyond retainPrevious were dropped.
	EventDatabasesDropped = "DatabasesDropped"
	// EventWritesNotCarriedBack (Warning): after a rollback, the rows the
	// abandoned side wrote since the switch, which stay there.
	EventWritesNotCarriedBack = "WritesNotCarriedBack"
	// EventDatabaseLeftFrozen (Warning): deletion gave up unfreezing an unreachable server.
	EventDatabaseLeftFrozen = "DatabaseLeftFrozen"
	// EventDatabaseLeftAsIs (Warning): deletion found no admin Secret to clean up with.
	EventDatabaseLeftAsIs = "DatabaseLeftAsIs"
)
