{{/*
NetworkPolicies of one umbrella chart's namespace, from its `networkPolicy` values (the same shape
in every chart):

  networkPolicy:
    enabled: true                  # render anything at all
    ingress:                       # RULE-NAME: {podSelector, ports, from}
      gateway:
        podSelector: {matchLabels: {app.kubernetes.io/component: gateway}}   # optional; all pods
        ports: [8080]                                                       # [] or absent: all ports
        from: [kalypso-otel, kalypso-grafana]
    egress:
      enabled: false               # default-deny egress too (the production profile turns it on)
      rules:                       # RULE-NAME: {podSelector, ports, to}
        s3: {ports: [9000], to: [kalypso-minio]}

A peer (`from`/`to` entry) is one of:
  - a component of the stack contract (`kalypso-loki`): the pods of its namespace, selected by
    the namespace's `kubernetes.io/metadata.name` label (the namespace comes from the contract);
  - `cluster`: every pod of every namespace (OTLP senders, mesh sidecars);
  - `anywhere`: any source or destination, pods or not (the API server calling a webhook, a load
    balancer, an external S3 endpoint); the rule then has no peer list;
  - a map: a NetworkPolicyPeer as is (`{ipBlock: {cidr: 10.0.0.0/16}}`, or a namespace outside
    the stack such as kube-system).
A port is a number (TCP), a container port name, or a map {port, protocol, endPort}. A rule whose
peer list is empty renders nothing (so a values file can switch one off with `from: []`).
Rule maps (not lists), so a profile or values file can change one rule without restating the
others; `null` removes a rule.

Objects: `<release>-default-deny` (every pod, Ingress, and Egress when egress.enabled), then one
`<release>-ingress-<rule>` / `<release>-egress-<rule>` per rule, allowing exactly that flow.
*/}}

{{/* kalypso-common.networkPolicies (root context): every NetworkPolicy of the chart's namespace. */}}
{{- define "kalypso-common.networkPolicies" -}}
{{- $np := .Values.networkPolicy | default dict -}}
{{- if $np.enabled -}}
{{- $egress := $np.egress | default dict -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .Release.Name }}-default-deny
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "kalypso-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: network-policy
spec:
  # Every pod of the namespace: nothing reaches it{{ if $egress.enabled }}, and it reaches nothing,{{ end }} unless a policy below allows it.
  podSelector: {}
  policyTypes:
    - Ingress
    {{- if $egress.enabled }}
    - Egress
    {{- end }}
{{- range $name, $rule := ($np.ingress | default dict) }}
{{- include "kalypso-common.networkPolicyRule" (list $ "ingress" $name $rule) }}
{{- end }}
{{- if $egress.enabled }}
{{- range $name, $rule := ($egress.rules | default dict) }}
{{- include "kalypso-common.networkPolicyRule" (list $ "egress" $name $rule) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
kalypso-common.networkPolicyRule (list ROOT DIRECTION NAME RULE): one allow policy, or nothing when
the rule is null or its peer list is empty.
*/}}
{{- define "kalypso-common.networkPolicyRule" -}}
{{- $root := index . 0 -}}
{{- $direction := index . 1 -}}
{{- $name := index . 2 -}}
{{- $rule := index . 3 | default dict -}}
{{- $peersKey := ternary "from" "to" (eq $direction "ingress") -}}
{{- $peers := index $rule $peersKey | default list -}}
{{- if $peers }}
{{- $entry := dict -}}
{{- if not (has "anywhere" $peers) }}
{{- $list := list -}}
{{- range $peer := $peers }}
{{- if kindIs "map" $peer }}
{{- $list = append $list $peer }}
{{- else if eq (toString $peer) "cluster" }}
{{- $list = append $list (dict "namespaceSelector" dict) }}
{{- else }}
{{- $ns := include "kalypso-common.get" (list $root "components" (toString $peer) "namespace") }}
{{- $list = append $list (dict "namespaceSelector" (dict "matchLabels" (dict "kubernetes.io/metadata.name" $ns))) }}
{{- end }}
{{- end }}
{{- $_ := set $entry $peersKey $list }}
{{- end }}
{{- $ports := list -}}
{{- range $port := ($rule.ports | default list) }}
{{- if kindIs "map" $port }}
{{- $ports = append $ports $port }}
{{- else if kindIs "string" $port }}
{{- $ports = append $ports (dict "port" $port "protocol" "TCP") }}
{{- else }}
{{- $ports = append $ports (dict "port" (int $port) "protocol" "TCP") }}
{{- end }}
{{- end }}
{{- if $ports }}{{ $_ := set $entry "ports" $ports }}{{ end }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ printf "%s-%s-%s" $root.Release.Name $direction $name | trunc 63 | trimSuffix "-" }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "kalypso-common.labels" $root | nindent 4 }}
    app.kubernetes.io/component: network-policy
spec:
  podSelector:
    {{- if $rule.podSelector }}
    {{- tpl (toYaml $rule.podSelector) $root | nindent 4 }}
    {{- else }} {}
    {{- end }}
  policyTypes: [{{ ternary "Ingress" "Egress" (eq $direction "ingress") }}]
  {{ $direction }}:
    {{- list $entry | toYaml | nindent 4 }}
{{- end }}
{{- end }}
