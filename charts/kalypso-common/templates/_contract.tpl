{{/*
The stack contract (contract.yaml at the repository root) arrives as a values file and sits under
global.kalypso, so the umbrella charts and every upstream subchart (in values it passes through
`tpl`) read the same map. These templates are the only way the charts read it.
*/}}

{{/*
kalypso-common.contract (root context): renders nothing; stops the render when the contract was
not passed. Every validate.yaml includes it first, so a chart never renders without it.
*/}}
{{- define "kalypso-common.contract" -}}
{{- if not (kindIs "map" (.Values.global | default dict).kalypso) -}}
{{- fail "global.kalypso (the stack contract) is missing: pass contract.yaml from the repository root as a values file (helm template|install ... -f contract.yaml; Argo CD: spec.source.helm.valueFiles in argocd/applicationset.yaml)" -}}
{{- end -}}
{{- end }}

{{/*
kalypso-common.get (list ROOT KEY...): the value at global.kalypso.KEY..., for example
(list . "tenants" "metrics") or (list . "components" "kalypso-loki" "storage" "secret").
Fails naming the full key when it is absent or is not a single value.
*/}}
{{- define "kalypso-common.get" -}}
{{- $root := first . -}}
{{- include "kalypso-common.contract" $root -}}
{{- $node := $root.Values.global.kalypso -}}
{{- $key := "global.kalypso" -}}
{{- range rest . -}}
{{- $key = printf "%s.%s" $key . -}}
{{- if not (and (kindIs "map" $node) (hasKey $node .)) -}}
{{- fail (printf "%s is missing from the stack contract (contract.yaml)" $key) -}}
{{- end -}}
{{- $node = index $node . -}}
{{- end -}}
{{- if or (kindIs "map" $node) (kindIs "slice" $node) -}}
{{- fail (printf "%s in the stack contract (contract.yaml) is a %s, not a single value" $key (kindOf $node)) -}}
{{- end -}}
{{- $node -}}
{{- end }}
