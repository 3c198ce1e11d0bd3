{{/*
Name of the eBPF profiler's objects (namespaced) and of its cluster-scoped RBAC.
*/}}
{{- define "kalypso-pyroscope.profilerName" -}}
otel-ebpf-profiler
{{- end }}
{{- define "kalypso-pyroscope.profilerClusterName" -}}
{{- printf "%s-otel-ebpf-profiler" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
