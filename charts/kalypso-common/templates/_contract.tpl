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
{{- /* Under `helm lint` a fail only logs and the render goes on: never index past a gap. */ -}}
{{- $node := ($root.Values.global | default dict).kalypso | default dict -}}
{{- $key := "global.kalypso" -}}
{{- $missing := false -}}
{{- range rest . -}}
{{- if not $missing -}}
{{- $key = printf "%s.%s" $key . -}}
{{- if and (kindIs "map" $node) (hasKey $node .) -}}
{{- $node = index $node . -}}
{{- else -}}
{{- $missing = true -}}
{{- fail (printf "%s is missing from the stack contract (contract.yaml)" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $missing -}}
{{- $node = "" -}}
{{- else if or (kindIs "map" $node) (kindIs "slice" $node) -}}
{{- fail (printf "%s in the stack contract (contract.yaml) is a %s, not a single value" $key (kindOf $node)) -}}
{{- $node = "" -}}
{{- end -}}
{{- $node -}}
{{- end }}
