{{/*
kalypso-common.labels (root context): the labels of every object an umbrella chart's own
templates create. No app.kubernetes.io/name: a template that has a name for what it makes adds
it (the OpenTelemetry Operator copies a collector's labels onto its pods, where a chart-wide name
would replace the operator's own).
*/}}
{{- define "kalypso-common.labels" -}}
app.kubernetes.io/part-of: kalypso
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}
