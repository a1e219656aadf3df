package v1alpha1

// A release group (spec.strategy.group) is a namespace's set of sites
// released as one: each member's candidate starts and is checked on its
// own, none switches until every member taking part is ready, checked and
// approved, and a failure of one takes the others back. There is no group
// object: each member computes the group's state from the members'
// statuses (docs/sitedeployment.md, "Release groups").

// AnnotationPromoteGroup approves every candidate of a group release at
// once; set on any one member, its value is the release's revision set
// (status.group.revisionSet): a value naming another set approves nothing.
const AnnotationPromoteGroup = "deploy.understudy.dev/promote-group"

// GroupMemberState is how far a member got in its group's release.
// +kubebuilder:validation:Enum=Unchanged;Pending;Progressing;AwaitingPromotion;Ready;Switched;Promoted;Failed;Withdrawn
type GroupMemberState string

// Member states, in the order a release passes through them.
const (
	// MemberUnchanged: the member's spec did not change; it takes no part.
	MemberUnchanged GroupMemberState = "Unchanged"
	// MemberPending: its spec changed and its candidate has not started
	// (its controller has not seen it yet, or its promotion gate holds it).
	MemberPending GroupMemberState = "Pending"
	// MemberProgressing: its candidate is starting or being checked.
	MemberProgressing GroupMemberState = "Progressing"
	// MemberAwaitingPromotion: its candidate is checked and waits for an
	// approval (its own promote annotation or the group's).
	MemberAwaitingPromotion GroupMemberState = "AwaitingPromotion"
	// MemberReady: its candidate is checked, approved and at full size; it
	// switches once every member taking part is Ready.
	MemberReady GroupMemberState = "Ready"
	// MemberSwitched: it switched; its post-promotion check runs.
	MemberSwitched GroupMemberState = "Switched"
	// MemberPromoted: it switched and its post-promotion check (if any)
	// passed.
	MemberPromoted GroupMemberState = "Promoted"
	// MemberFailed: its own candidate failed a check or its deadline, or a
	// person aborted it; every other member goes back.
	MemberFailed GroupMemberState = "Failed"
	// MemberWithdrawn: it went back because another member failed; it is
	// released again once no member of the group is Failed.
	MemberWithdrawn GroupMemberState = "Withdrawn"
)

// GroupPhase summarises a group's release.
// +kubebuilder:validation:Enum=Idle;Progressing;AwaitingPromotion;Switching;Promoted;RollingBack
type GroupPhase string

// Phases of a group's release.
const (
	// GroupIdle: no member takes part in a release.
	GroupIdle GroupPhase = "Idle"
	// GroupProgressing: a member's candidate is pending, starting or being checked.
	GroupProgressing GroupPhase = "Progressing"
	// GroupAwaitingPromotion: every candidate is checked; one waits for an approval.
	GroupAwaitingPromotion GroupPhase = "AwaitingPromotion"
	// GroupSwitching: every candidate is ready (or already switched): they switch.
	GroupSwitching GroupPhase = "Switching"
	// GroupPromoted: every member taking part switched and passed its
	// post-promotion check.
	GroupPromoted GroupPhase = "Promoted"
	// GroupRollingBack: a member failed; every member goes back.
	GroupRollingBack GroupPhase = "RollingBack"
)

// GroupStatus is a member's view of its group's release.
type GroupStatus struct {
	// Name is spec.strategy.group.
	Name string `json:"name"`
	// Revision is the revision this site takes part with; empty when it
	// takes no part.
	// +optional
	Revision string `json:"revision,omitempty"`
	// State is this site's state in the release.
	State GroupMemberState `json:"state"`
	// Approved: this site's candidate (revision) was approved by a group
	// promote; it stays approved while that revision is in flight.
	// +optional
	Approved bool `json:"approved,omitempty"`
	// Phase is the group's release as this site sees it.
	Phase GroupPhase `json:"phase"`
	// RevisionSet names the revisions of the members taking part,
	// "site@revision" sorted by site and joined by commas: the value of the
	// promote-group annotation that approves them.
	// +optional
	RevisionSet string `json:"revisionSet,omitempty"`
	// Members are the group's sites (this one included), sorted by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	Members []GroupMemberStatus `json:"members,omitempty"`
}

// GroupMemberStatus is one member as its last written status shows it.
type GroupMemberStatus struct {
	// Name is the member's SiteDeployment name (same namespace).
	Name string `json:"name"`
	// Revision is its spec.template's revision.
	// +optional
	Revision string `json:"revision,omitempty"`
	// State is how far it got.
	State GroupMemberState `json:"state"`
	// Message says why it failed, or what it waits for.
	// +optional
	Message string `json:"message,omitempty"`
}
