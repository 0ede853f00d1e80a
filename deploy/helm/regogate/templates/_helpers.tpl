{{/* The chart's name, and the release's full name (63 characters at most: DNS labels). */}}
{{- define "regogate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regogate.fullname" -}}
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

{{- define "regogate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "regogate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "regogate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regogate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "regogate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "regogate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "regogate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Names of the Secrets the chart reads (it never creates one). */}}
{{- define "regogate.tlsSecret" -}}
{{- default (printf "%s-tls" (include "regogate.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "regogate.keySecret" -}}
{{- default (printf "%s-recording-key" (include "regogate.fullname" .)) .Values.recording.keySecret.name }}
{{- end }}

{{- define "regogate.passwordSecret" -}}
{{- default (printf "%s-upstream-%s" (include "regogate.fullname" .root) .name) (dig "passwordSecret" "name" "" .connection) }}
{{- end }}

{{- define "regogate.pvc" -}}
{{- default (printf "%s-recordings" (include "regogate.fullname" .)) .Values.recording.persistence.existingClaim }}
{{- end }}

{{- define "regogate.anchorPvc" -}}
{{- default (printf "%s-anchor" (include "regogate.fullname" .)) .Values.recording.anchor.existingClaim }}
{{- end }}

{{/* The pod and container security settings: fixed, not values (see values.yaml). */}}
{{- define "regogate.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}
