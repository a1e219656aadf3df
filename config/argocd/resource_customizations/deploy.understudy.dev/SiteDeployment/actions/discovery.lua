-- Resource actions of a SiteDeployment. promote approves the candidate
-- (status.previewRevision); abort rejects the candidate or, when there is
-- none, the active revision, which rolls back to the previous one. Keep the
-- rules in step with abort/action.lua and internal/plugin/actions.go.
local actions = {}
local st = obj.status or {}
local annotations = obj.metadata.annotations or {}

local candidate = st.previewRevision
if candidate == "" or candidate == st.abortedRevision then
  candidate = nil
end

-- A rollback applies when the controller says it would accept one:
-- status.rollbackRevision names where it would go.
local rollback = candidate == nil and st.rollbackRevision ~= nil and st.rollbackRevision ~= ""

actions["promote"] = {["disabled"] = candidate == nil or annotations["deploy.understudy.dev/promote"] == candidate}
actions["abort"] = {["disabled"] = candidate == nil and not rollback}
return actions
