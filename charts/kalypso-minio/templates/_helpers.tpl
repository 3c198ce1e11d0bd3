{{/*
Labels for the objects this chart creates itself (not the upstream subchart).
*/}}
{{- define "kalypso-minio.labels" -}}
app.kubernetes.io/name: kalypso-minio
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kalypso
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
Name of the Secret that holds a backend user's secret key.
Call with (dict "backend" NAME "user" .Values.kalypso.users.NAME).
*/}}
{{- define "kalypso-minio.userSecretName" -}}
{{- .user.existingSecret | default (printf "minio-user-%s" .backend) -}}
{{- end -}}
