-- Health of a DatabaseRefresh (deploy.understudy.dev/v1alpha1) for Argo CD.
-- Only the base and table libraries are used: Argo CD runs scripts from
-- argocd-cm without the other standard libraries unless useOpenLibs is set.
local hs = {}

local function condition(st, type)
  if st == nil or st.conditions == nil then
    return nil
  end
  for _, c in ipairs(st.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function messageOf(c)
  if c ~= nil and c.message ~= nil then
    return c.message
  end
  return ""
end

local st = obj.status
local generation = obj.metadata.generation
if st == nil or st.observedGeneration == nil or (generation ~= nil and st.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe the spec"
  return hs
end

-- The same order as kstatus: a refresh running after a failure may repair
-- it, so it reads Progressing until it ends.
local reconciling = condition(st, "Reconciling")
local stalled = condition(st, "Stalled")
local ready = condition(st, "Ready")
if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = messageOf(reconciling)
elseif isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = messageOf(stalled)
elseif obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = messageOf(ready)
elseif isTrue(ready) then
  hs.status = "Healthy"
  hs.message = messageOf(ready)
else
  hs.status = "Progressing"
  hs.message = messageOf(ready)
end
return hs
