{{/*
kalypso-common.rulesLoader (dict "ctx" $ "files" FILES "urls" URLS): the self-monitoring rules of
a backend, loaded into Mimir's ruler for the contract's metrics tenant (`tenants.metrics`) through
the contract's Mimir gateway (`components.kalypso-mimir.gateway`).

FILES maps a ruler namespace to a Prometheus rule file (`groups:`), rendered by the chart from
its upstream chart's own rule sources; URLS maps a ruler namespace to the published rule file
downloaded at install time (a backend whose chart ships none). Renders:
- ConfigMap `<release>-selfmon-rules`, label `kalypso/ruler-rules: "true"`: one key
  `<namespace>.yaml` per file and one `<namespace>.url` per URL (what `kalypso check`'s
  selfmon/selectors reads);
- Job `<release>-selfmon-rules` (helm hook post-install,post-upgrade, which Argo CD runs as a
  PostSync hook; `kalypso up` and plain helm run it with the release): mimirtool `rules sync`
  restricted to these namespaces, so every install or sync leaves exactly these groups loaded.
  It waits for the ruler (up to `loader.waitSeconds`); a URL that cannot be downloaded (no
  egress) is skipped with a line in the log, the groups already loaded from it are kept.
Values read from the chart: `selfMonitoring.rules.loader.{image,imagePullPolicy,resources,waitSeconds}`.
*/}}
{{- define "kalypso-common.rulesLoader" -}}
{{- $ := .ctx -}}
{{- $files := .files | default dict -}}
{{- $urls := .urls | default dict -}}
{{- if or $files $urls }}
{{- $loader := $.Values.selfMonitoring.rules.loader -}}
{{- $name := printf "%s-selfmon-rules" $.Release.Name -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "kalypso-common.labels" $ | nindent 4 }}
    app.kubernetes.io/component: selfmon-rules
    kalypso/ruler-rules: "true"
data:
  {{- range $ns, $text := $files }}
  {{ $ns }}.yaml: |
    {{- $text | nindent 4 }}
  {{- end }}
  {{- range $ns, $url := $urls }}
  {{ $ns }}.url: {{ $url | quote }}
  {{- end }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "kalypso-common.labels" $ | nindent 4 }}
    app.kubernetes.io/component: selfmon-rules
  annotations:
    helm.sh/hook: post-install,post-upgrade
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: 1
  activeDeadlineSeconds: {{ add $loader.waitSeconds 300 }}
  template:
    metadata:
      labels:
        {{- include "kalypso-common.labels" $ | nindent 8 }}
        app.kubernetes.io/component: selfmon-rules
        sidecar.istio.io/inject: "false"
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
        runAsGroup: 65534
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: mimirtool
          image: {{ $loader.image | quote }}
          imagePullPolicy: {{ $loader.imagePullPolicy }}
          command: ["/bin/sh", "-c"]
          args:
            - |
              set -eu
              mkdir -p /scratch/rules
              namespaces=""
              for f in /rules/*.yaml /rules/*.url; do
                [ -e "$f" ] || continue
                ns=$(basename "$f"); ns=${ns%.*}
                case "$f" in
                  *.url)
                    url=$(cat "$f")
                    if ! wget -q -T 30 -O "/scratch/rules/$ns.yaml" "$url"; then
                      rm -f "/scratch/rules/$ns.yaml"
                      echo "WARNING: cannot download $url (egress to it allowed?): namespace $ns left as it is"
                      continue
                    fi ;;
                  *) cp "$f" "/scratch/rules/$ns.yaml" ;;
                esac
                namespaces="${namespaces:+$namespaces,}$ns"
              done
              [ -n "$namespaces" ] || { echo "nothing to load"; exit 0; }
              deadline=$(( $(date +%s) + {{ $loader.waitSeconds }} ))
              until mimirtool rules sync --rule-dirs=/scratch/rules --namespaces="$namespaces"; do
                [ "$(date +%s)" -lt "$deadline" ] || { echo "Mimir's ruler at $MIMIR_ADDRESS did not take the rules"; exit 1; }
                echo "ruler not ready, retrying in 10s"
                sleep 10
              done
              echo "loaded namespaces $namespaces for tenant $MIMIR_TENANT_ID"
          env:
            - name: MIMIR_ADDRESS
              value: {{ include "kalypso-common.url" (list $ "kalypso-mimir" "gateway") | quote }}
            - name: MIMIR_TENANT_ID
              value: {{ include "kalypso-common.get" (list $ "tenants" "metrics") | quote }}
          resources:
            {{- toYaml $loader.resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
          volumeMounts:
            - name: rules
              mountPath: /rules
              readOnly: true
            - name: work
              mountPath: /scratch
      volumes:
        - name: rules
          configMap:
            name: {{ $name }}
        - name: work
          emptyDir: {}
{{- end }}
{{- end }}
