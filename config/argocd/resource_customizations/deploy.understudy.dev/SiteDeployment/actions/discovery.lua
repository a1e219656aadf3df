-- Resource actions of a SiteDeployment. promote approves the candidate
-- (status.previewRevision); abort rejects the candidate, or the revision
-- waiting for its upstreams, or when there is none the active revision,
-- which rolls back to the previous one; skip-promotion-gate releases the
-- revision waiting for its upstreams without them; promote-group approves
-- every candidate of the site's release group (status.group.revisionSet).
-- Keep the rules in step with abort/action.lua,
-- skip-promotion-gate/action.lua, promote-group/action.lua and
-- internal/plugin/actions.go and group.go.
local actions = {}
local st = obj.status or {}
local annotations = obj.metadata.annotations or {}

local candidate = st.previewRevision
if candidate == "" or candidate == st.abortedRevision then
  candidate = nil
end

-- A release held by the promotion gate (status.promotion) is the revision
-- being released while it waits: it has no pods yet.
local waiting = nil
if st.phase == "AwaitingUpstream" and st.promotion ~= nil and (st.promotion.gate == nil or st.promotion.gate == "") then
  waiting = st.promotion.revision
end

-- A rollback applies when the controller says it would accept one:
-- status.rollbackRevision names where it would go.
local rollback = candidate == nil and waiting == nil and st.rollbackRevision ~= nil and st.rollbackRevision ~= ""

actions["promote"] = {["disabled"] = candidate == nil or annotations["deploy.understudy.dev/promote"] == candidate}
actions["abort"] = {["disabled"] = candidate == nil and waiting == nil and not rollback}
actions["skip-promotion-gate"] = {["disabled"] = waiting == nil or annotations["deploy.understudy.dev/skip-promotion-gate"] == waiting}
local group = st.group
local set = nil
if group ~= nil and group.revisionSet ~= nil and group.revisionSet ~= "" and group.phase ~= "RollingBack" then
  set = group.revisionSet
end
actions["promote-group"] = {["disabled"] = set == nil or annotations["deploy.understudy.dev/promote-group"] == set}
return actions
