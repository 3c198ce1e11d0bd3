{{/*
Render-time asserts for the validate templates. An upstream value that the subchart does not pass
through `tpl` repeats a contract value (or another value of the chart) once; these stop the render
when the two disagree, naming both keys and both values.
*/}}

{{/*
kalypso-common.assertEqual (list KEY_A VALUE_A KEY_B VALUE_B): fails unless both values print
the same (so 9000 and "9000" are equal).
*/}}
{{- define "kalypso-common.assertEqual" -}}
{{- $a := include "kalypso-common.show" (index . 1) -}}
{{- $b := include "kalypso-common.show" (index . 3) -}}
{{- if ne $a $b -}}
{{- fail (printf "%s is %s but %s is %s: set them to the same value" (index . 0) $a (index . 2) $b) -}}
{{- end -}}
{{- end }}

{{/*
kalypso-common.assertIncludes (list KEY_A LIST KEY_B VALUE): fails unless VALUE is one of LIST.
*/}}
{{- define "kalypso-common.assertIncludes" -}}
{{- $want := include "kalypso-common.show" (index . 3) -}}
{{- $have := list -}}
{{- range (index . 1) }}{{ $have = append $have (include "kalypso-common.show" .) }}{{ end -}}
{{- if not (has $want $have) -}}
{{- fail (printf "%s is [%s] but must include %s, the value of %s" (index . 0) (join ", " $have) $want (index . 2)) -}}
{{- end -}}
{{- end }}

{{/* kalypso-common.show VALUE: how the asserts print a value ("(unset)" for a missing one). */}}
{{- define "kalypso-common.show" -}}
{{- if kindIs "invalid" . }}(unset){{ else }}{{ toString . }}{{ end -}}
{{- end }}
