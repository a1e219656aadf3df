-- Health of a SiteDeployment (deploy.understudy.dev/v1alpha1) for Argo CD.
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

local function messageOf(st, c)
  if st ~= nil and st.message ~= nil and st.message ~= "" then
    return st.message
  end
  if c ~= nil and c.message ~= nil then
    return c.message
  end
  return ""
end

local st = obj.status
local generation = obj.metadata.generation

-- A failed step of the current generation (a database error during a
-- release) is written before the generation is fully handled: it wins.
local stalled = condition(st, "Stalled")
if stalled ~= nil and stalled.status == "True" and
    (generation == nil or stalled.observedGeneration == nil or stalled.observedGeneration >= generation) then
  hs.status = "Degraded"
  hs.message = messageOf(st, stalled)
  return hs
end

if st == nil or st.observedGeneration == nil or (generation ~= nil and st.observedGeneration < generation) then
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the controller to observe generation " .. generation
  else
    hs.message = "Waiting for the controller to observe the spec"
  end
  return hs
end

local phase = st.phase
local reconciling = condition(st, "Reconciling")
if phase == "Degraded" or phase == "Aborted" then
  hs.status = "Degraded"
elseif phase == "AwaitingPromotion" or phase == "AwaitingUpstream" or phase == "Paused" or (obj.spec ~= nil and obj.spec.paused == true) then
  hs.status = "Suspended"
elseif phase == "AwaitingGroup" then
  -- Ready, checked and approved, its switch waits for the other members
  -- of its release group: for a person when the group awaits an
  -- approval, else for the others' candidates to get ready.
  hs.status = "Progressing"
  if st.group ~= nil and st.group.phase == "AwaitingPromotion" then
    hs.status = "Suspended"
  end
elseif phase == "Healthy" and (reconciling == nil or reconciling.status ~= "True") then
  hs.status = "Healthy"
else
  hs.status = "Progressing"
end
hs.message = messageOf(st, condition(st, "Ready"))
return hs
