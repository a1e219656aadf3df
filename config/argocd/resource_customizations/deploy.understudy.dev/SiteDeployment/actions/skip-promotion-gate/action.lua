-- Releases the revision waiting for its upstreams (status.promotion)
-- without them, a hotfix: the skip-promotion-gate annotation names exactly
-- that revision. The controller answers in status.actions, emits a Warning
-- event and marks the revision's history entry Skipped.
local st = obj.status or {}
local pr = st.promotion
if st.phase ~= "AwaitingUpstream" or pr == nil or (pr.gate ~= nil and pr.gate ~= "") or pr.revision == nil then
  error("no release waits for its upstreams", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["deploy.understudy.dev/skip-promotion-gate"] = pr.revision
return obj
