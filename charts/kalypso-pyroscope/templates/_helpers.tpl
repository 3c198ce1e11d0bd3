{{/*
Labels shared by every object this chart's own templates create.
*/}}
{{- define "kalypso-pyroscope.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: kalypso
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/*
Secret holding S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY for Pyroscope.
*/}}
{{- define "kalypso-pyroscope.s3SecretName" -}}
{{- .Values.kalypso.s3.existingSecret | default "pyroscope-s3-credentials" }}
{{- end }}

{{/*
Name of the eBPF profiler's objects (namespaced) and of its cluster-scoped RBAC.
*/}}
{{- define "kalypso-pyroscope.profilerName" -}}
otel-ebpf-profiler
{{- end }}
{{- define "kalypso-pyroscope.profilerClusterName" -}}
{{- printf "%s-otel-ebpf-profiler" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
