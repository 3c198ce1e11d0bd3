{{/* Labels for the glue objects this umbrella chart renders itself. */}}
{{- define "kalypso-tempo.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kalypso
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret the Tempo pods read S3 credentials from. */}}
{{- define "kalypso-tempo.s3SecretName" -}}
{{- .Values.kalypso.s3.existingSecret | default "tempo-s3-credentials" -}}
{{- end -}}
