-- Resource actions of a DatabaseRefresh: refresh-now starts one refresh,
-- unless one runs, one was requested and not yet picked up, or the spec
-- cannot be acted on. Keep in step with internal/plugin/actions.go.
local actions = {}
local st = obj.status or {}
local annotations = obj.metadata.annotations or {}

local disabled = false
for _, c in ipairs(st.conditions or {}) do
  if c.type == "Reconciling" and c.status == "True" then
    disabled = true
  end
  if c.type == "Ready" and c.reason == "InvalidSpec" then
    disabled = true
  end
end
local pending = annotations["deploy.understudy.dev/refresh-now"]
if pending ~= nil and pending ~= "" and pending ~= st.lastRefreshNowToken then
  disabled = true
end
actions["refresh-now"] = {["disabled"] = disabled}
return actions
