{{/* Labels shared by everything this chart's own templates render. */}}
{{- define "kalypso-otel.labels" -}}
app.kubernetes.io/part-of: kalypso
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/*
Annotations of every custom resource of the operator: Argo CD wave 3 (after the operator
and its webhook are Healthy, wave 2), and no dry-run while the CRDs are still being created
in the same sync. Plain Helm ignores both; see README.md for the install steps.
*/}}
{{- define "kalypso-otel.crAnnotations" -}}
argocd.argoproj.io/sync-wave: "3"
argocd.argoproj.io/sync-options: SkipDryRunOnMissingResource=true
{{- end }}

{{/* In-cluster host of the gateway collector's Service (created by the operator). */}}
{{- define "kalypso-otel.gatewayHost" -}}
{{ .Values.kalypso.collector.name }}-collector.{{ .Release.Namespace }}.svc.cluster.local
{{- end }}

{{/* Collector image reference. */}}
{{- define "kalypso-otel.collectorImage" -}}
{{ .Values.collectors.image.repository }}:{{ .Values.collectors.image.tag }}
{{- end }}

{{/* memory_limiter settings shared by both collectors (relative to the container's memory limit). */}}
{{- define "kalypso-otel.memoryLimiter" -}}
check_interval: 1s
limit_percentage: 80
spike_limit_percentage: 25
{{- end }}
