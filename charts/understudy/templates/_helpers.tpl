{{/* Chart name. */}}
{{- define "understudy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of object names: the release name, or the chart name when the
release name already holds it. */}}
{{- define "understudy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the manager's Deployment, ServiceAccount and ClusterRole:
understudy-manager for a release named understudy, as config/default. */}}
{{- define "understudy.managerName" -}}
{{- printf "%s-manager" (include "understudy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "understudy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "understudy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "understudy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "understudy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* image renders repository@digest, else repository:tag (tag defaulting
to the appVersion). Call with (dict "image" .Values.image "root" .). */}}
{{- define "understudy.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{/* Leader election is on when asked for, and always with more than one replica. */}}
{{- define "understudy.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) }}true{{ end }}
{{- end }}

{{/* crdManagedHere is "true" when this release manages the CRD named .name:
it is not in the cluster yet, or this release installed it. A CRD another
tool installed (kubectl apply -k config/crd, make deploy) is left to that
tool: Helm would refuse to install over it, as it carries no Helm ownership
annotations. helm template finds no CRD and renders them all. Call with
(dict "name" "<crd name>" "root" .). */}}
{{- define "understudy.crdManagedHere" -}}
{{- $crd := lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" .name }}
{{- if not $crd }}true
{{- else }}
{{- $a := $crd.metadata.annotations | default dict }}
{{- if and (eq (get $a "meta.helm.sh/release-name") .root.Release.Name) (eq (get $a "meta.helm.sh/release-namespace") .root.Release.Namespace) }}true{{ end }}
{{- end }}
{{- end }}
