-- Starts one refresh: the refresh-now annotation gets a value it never had.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["deploy.understudy.dev/refresh-now"] = "argocd-" .. os.time()
return obj
