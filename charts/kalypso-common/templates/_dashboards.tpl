{{/*
kalypso-common.dashboardReader: lets kalypso-grafana's dashboard sidecar read this release's
namespace for dashboard ConfigMaps (get, list, watch on ConfigMaps, nothing else: no Secrets).
Rendered by the chart that owns the namespace (kalypso-mimir, kalypso-loki), so that
kalypso-grafana creates nothing outside its own namespace and installs before or after them.
The subject is Grafana's ServiceAccount: the grafana chart names it after its fullname, which
kalypso-grafana asserts is the contract's `components.kalypso-grafana.ui.service`, in the
contract's `components.kalypso-grafana.namespace`.
*/}}
{{- define "kalypso-common.dashboardReader" -}}
{{- $name := printf "%s-dashboard-reader" .Release.Name }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "kalypso-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: dashboards
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "kalypso-common.labels" . | nindent 4 }}
    app.kubernetes.io/component: dashboards
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "kalypso-common.get" (list . "components" "kalypso-grafana" "ui" "service") }}
    namespace: {{ include "kalypso-common.get" (list . "components" "kalypso-grafana" "namespace") }}
{{- end -}}
