-- Aborts the candidate, or the revision waiting for its upstreams, or when
-- there is none the active revision: a rollback to the previous one. The
-- same rules as discovery.lua.
local st = obj.status or {}
local target = st.previewRevision
if target == "" or target == st.abortedRevision then
  target = nil
end
if target == nil and st.phase == "AwaitingUpstream" and st.promotion ~= nil and
    (st.promotion.gate == nil or st.promotion.gate == "") then
  target = st.promotion.revision
end
if target == nil and st.rollbackRevision ~= nil and st.rollbackRevision ~= "" then
  target = st.activeRevision
end
if target == nil then
  error("nothing to abort: no candidate, and no previous revision to roll back to", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["deploy.understudy.dev/abort"] = target
return obj
