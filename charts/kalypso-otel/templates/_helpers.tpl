{{/*
Annotations of every custom resource of the operator: Argo CD wave 3 (after the operator
and its webhook are Healthy, wave 2), and no dry-run while the CRDs are still being created
in the same sync. Plain Helm ignores both; see README.md for the install steps.
*/}}
{{- define "kalypso-otel.crAnnotations" -}}
argocd.argoproj.io/sync-wave: "3"
argocd.argoproj.io/sync-options: SkipDryRunOnMissingResource=true
{{- end }}

{{/*
Name of the gateway OpenTelemetryCollector: the operator names its Service <name>-collector, so
the name is the contract's components.kalypso-otel.collector.service without that suffix
(validate.yaml checks the suffix). The agent and the Instrumentation are named after it.
*/}}
{{- define "kalypso-otel.gatewayName" -}}
{{- include "kalypso-common.get" (list . "components" "kalypso-otel" "collector" "service") | trimSuffix "-collector" -}}
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
