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

-- A rollback applies when the active revision took over from one that was
-- promoted and not aborted since; the controller refuses it (with an
-- event) when that revision is no longer warm.
local rollback = false
if candidate == nil and st.activeRevision ~= nil and st.activeRevision ~= "" and st.activeRevision ~= st.abortedRevision then
  for _, h in ipairs(st.history or {}) do
    if h.revision ~= st.activeRevision and h.promotedAt ~= nil then
      rollback = h.outcome == "Promoted" or h.outcome == "Superseded"
      break
    end
  end
end

actions["promote"] = {["disabled"] = candidate == nil or annotations["deploy.understudy.dev/promote"] == candidate}
actions["abort"] = {["disabled"] = candidate == nil and not rollback}
return actions
