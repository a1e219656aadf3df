-- Approves the candidate: the promote annotation names exactly
-- status.previewRevision.
local st = obj.status or {}
local candidate = st.previewRevision
if candidate == nil or candidate == "" or candidate == st.abortedRevision then
  error("no candidate awaits promotion", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["deploy.understudy.dev/promote"] = candidate
return obj
