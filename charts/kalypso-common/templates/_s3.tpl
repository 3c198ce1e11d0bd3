{{/*
S3 credentials of a backend's own MinIO user, for the chart whose name is the component
(.Chart.Name, e.g. kalypso-loki). Contract: components.<chart>.storage.{user, secret}. The chart's
own values: kalypso.s3.secretAccessKey (the user's secret key) and kalypso.s3.existingSecret (a
Secret you manage, with the same two keys; then this chart creates none).
*/}}

{{/* kalypso-common.s3SecretName (root context): the Secret the backend's pods load. */}}
{{- define "kalypso-common.s3SecretName" -}}
{{- .Values.kalypso.s3.existingSecret | default (include "kalypso-common.get" (list . "components" .Chart.Name "storage" "secret")) -}}
{{- end }}

{{/*
kalypso-common.s3CredentialsSecret (root context): the Secret with S3_ACCESS_KEY_ID (the
contract's storage.user) and S3_SECRET_ACCESS_KEY (kalypso.s3.secretAccessKey), or nothing when
kalypso.s3.existingSecret is set. `data`, not `stringData`: what the API server stores, so a
server-side diff sees no change.
*/}}
{{- define "kalypso-common.s3CredentialsSecret" -}}
{{- if not .Values.kalypso.s3.existingSecret }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "kalypso-common.s3SecretName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "kalypso-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: s3-credentials
type: Opaque
data:
  S3_ACCESS_KEY_ID: {{ include "kalypso-common.get" (list . "components" .Chart.Name "storage" "user") | b64enc }}
  S3_SECRET_ACCESS_KEY: {{ required "kalypso.s3.secretAccessKey is empty: set the MinIO secret key of this backend's user (the same as in kalypso-minio), or kalypso.s3.existingSecret" .Values.kalypso.s3.secretAccessKey | b64enc }}
{{- end }}
{{- end }}
