{{/*
Labels for the objects this chart creates itself (not the upstream subchart).
*/}}
{{- define "kalypso-mimir.labels" -}}
app.kubernetes.io/name: kalypso-mimir
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kalypso
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
Name of the Secret holding S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY.
*/}}
{{- define "kalypso-mimir.s3SecretName" -}}
{{- .Values.kalypso.s3.existingSecret | default "mimir-s3-credentials" -}}
{{- end -}}
