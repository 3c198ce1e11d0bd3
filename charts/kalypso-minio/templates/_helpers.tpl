{{/*
The backends: the contract's components that have object storage (global.kalypso.components.*
with `storage`), as a sorted list of component names.
*/}}
{{- define "kalypso-minio.backends" -}}
{{- include "kalypso-common.contract" . -}}
{{- $names := list -}}
{{- range $name, $component := dig "kalypso" "components" dict (.Values.global | default dict) -}}
{{- if and (kindIs "map" $component) (hasKey $component "storage") }}{{ $names = append $names $name }}{{ end -}}
{{- end -}}
{{- $names | join " " -}}
{{- end }}

{{/*
Name of the Secret that holds a backend user's secret key, (list ROOT COMPONENT):
kalypso.users.COMPONENT.existingSecret, else minio-user-<the contract's storage.user>.
*/}}
{{- define "kalypso-minio.userSecretName" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $user := (index $root.Values.kalypso.users $component) | default dict -}}
{{- $user.existingSecret | default (printf "minio-user-%s" (include "kalypso-common.get" (list $root "components" $component "storage" "user"))) -}}
{{- end }}

{{/*
The variable through which SeaweedFS reads a backend user's secret key (USER: the contract's
storage.user): KALYPSO_S3_SECRET_KEY_<USER>, upper case, `-` and `.` as `_`.
*/}}
{{- define "kalypso-minio.secretKeyEnv" -}}
{{- printf "KALYPSO_S3_SECRET_KEY_%s" (. | toString | upper | replace "-" "_" | replace "." "_") -}}
{{- end }}
