{{/*
kalypso-common.notes (root context): the NOTES.txt every chart prints after an install or an
upgrade: what was installed (the chart's description and the upstream charts switched on; helm
leaves the others out of .Chart.Dependencies), how to reach it (the Services the stack contract
names for this component: in-cluster addresses and a port-forward). A chart's NOTES.txt
includes it, adds its own lines, and ends with kalypso-common.notes-next.
*/}}
{{- define "kalypso-common.notes" -}}
{{- include "kalypso-common.contract" . -}}
{{- $component := get .Values.global.kalypso.components .Chart.Name | default dict -}}
{{- $ns := $component.namespace | default .Release.Namespace -}}
Release {{ .Release.Name }} (chart {{ .Chart.Name }} {{ .Chart.Version }}, app {{ .Chart.AppVersion }}) in namespace {{ .Release.Namespace }}:
{{ .Chart.Description | wrap 96 | indent 2 }}

Upstream charts switched on:
{{- $upstream := false }}
{{- range .Chart.Dependencies }}
{{- if not (hasPrefix "file://" .Repository) }}
{{- $upstream = true }}
  {{ .Name }} {{ .Version }}
{{- end }}
{{- end }}
{{- if not $upstream }}
  none
{{- end }}

How to reach it (contract.yaml, components.{{ .Chart.Name }}):
{{- $any := false }}
{{- range $role, $e := $component }}
{{- if and (kindIs "map" $e) (hasKey $e "service") }}
{{- $any = true }}
{{- $host := printf "%s.%s.svc.cluster.local" $e.service $ns }}
{{- $ports := $e.ports | default (dict $role $e.port) }}
{{- range $name, $port := $ports }}
  {{ $role }}{{ if ne $name $role }} ({{ $name }}){{ end }}: {{ $host }}:{{ $port }}
    from your machine: kubectl port-forward -n {{ $ns }} svc/{{ $e.service }} {{ if lt (int $port) 1024 }}8080{{ else }}{{ $port }}{{ end }}:{{ $port }}
{{- end }}
{{- end }}
{{- end }}
{{- if not $any }}
  nothing: this chart serves no Service of the stack contract.
{{- end }}
{{- end }}

{{/*
kalypso-common.notes-next (root context): the last lines of every NOTES.txt, the next commands.
*/}}
{{- define "kalypso-common.notes-next" -}}
Next:
  kalypso status   # releases, workloads and pods healthy, firing self-monitoring alerts
  kalypso verify   # a trace, a metric, a log line and a profile written and read back
{{- end }}
