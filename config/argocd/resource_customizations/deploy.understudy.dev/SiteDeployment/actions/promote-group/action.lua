-- Approves every candidate of the site's release group at once: the
-- promote-group annotation names the group's revision set
-- (status.group.revisionSet), so an approval of an older set approves
-- nothing new. Every member reads it from whichever member carries it.
local st = obj.status or {}
local g = st.group
if g == nil or g.revisionSet == nil or g.revisionSet == "" or g.phase == "RollingBack" then
  error("no release of a release group awaits approval", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["deploy.understudy.dev/promote-group"] = g.revisionSet
return obj
