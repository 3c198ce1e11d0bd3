{{/*
In-cluster addresses of the contract's Service endpoints. An endpoint is
global.kalypso.components.COMPONENT.ENDPOINT = {service, port} or {service, ports: {NAME: port}};
its Service lives in the component's namespace.
  host    (list ROOT COMPONENT ENDPOINT)        loki-gateway.loki.svc.cluster.local
  port    (list ROOT COMPONENT ENDPOINT [NAME])  80 (NAME picks one of `ports`)
  address (list ROOT COMPONENT ENDPOINT [NAME])  loki-gateway.loki.svc.cluster.local:80
  url     (list ROOT COMPONENT ENDPOINT [NAME])  http://loki-gateway.loki.svc.cluster.local
                                                 (":port" unless it is 80; append the path)
*/}}

{{- define "kalypso-common.host" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- printf "%s.%s.svc.cluster.local"
  (include "kalypso-common.get" (list $root "components" $component (index . 2) "service"))
  (include "kalypso-common.get" (list $root "components" $component "namespace")) -}}
{{- end }}

{{- define "kalypso-common.port" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $endpoint := index . 2 -}}
{{- if gt (len .) 3 -}}
{{- include "kalypso-common.get" (list $root "components" $component $endpoint "ports" (index . 3)) -}}
{{- else -}}
{{- include "kalypso-common.get" (list $root "components" $component $endpoint "port") -}}
{{- end -}}
{{- end }}

{{- define "kalypso-common.address" -}}
{{- printf "%s:%s" (include "kalypso-common.host" .) (include "kalypso-common.port" .) -}}
{{- end }}

{{- define "kalypso-common.url" -}}
{{- $port := include "kalypso-common.port" . -}}
{{- printf "http://%s%s" (include "kalypso-common.host" .) (ternary "" (printf ":%s" $port) (eq $port "80")) -}}
{{- end }}
