{{/* Labels for the glue objects this umbrella chart renders itself. */}}
{{- define "kalypso-loki.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kalypso
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret the Loki pod reads S3 credentials from. */}}
{{- define "kalypso-loki.s3SecretName" -}}
{{- .Values.kalypso.s3.existingSecret | default "loki-s3-credentials" -}}
{{- end -}}
