{{/*
Labels shared by every object this chart's own templates create.
*/}}
{{- define "kalypso-grafana.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: kalypso
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/*
In-cluster URL of Grafana itself, port 80. Same naming rule as the grafana chart's Service:
fullnameOverride, else the release name when it contains "grafana", else <release>-grafana.
*/}}
{{- define "kalypso-grafana.url" -}}
{{- $name := .Values.grafana.fullnameOverride | default "" }}
{{- if not $name }}
{{- $name = ternary .Release.Name (printf "%s-grafana" .Release.Name) (contains "grafana" .Release.Name) }}
{{- end }}
{{- printf "http://%s.%s.svc.cluster.local" ($name | trunc 63 | trimSuffix "-") .Release.Namespace }}
{{- end }}
