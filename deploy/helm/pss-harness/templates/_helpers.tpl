{{/* Labels every object carries (no release-specific ones: the rendering equals deploy/kustomize/base). */}}
{{- define "pss-harness.labels" -}}
app.kubernetes.io/name: pss-harness
app.kubernetes.io/part-of: pss-harness
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "pss-harness.selectorLabels" -}}
app.kubernetes.io/name: pss-harness
app.kubernetes.io/component: {{ . }}
{{- end }}

{{- define "pss-harness.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The restricted pod: non-root, RuntimeDefault seccomp (the image's user is 65532). */}}
{{- define "pss-harness.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "pss-harness.containerSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
readOnlyRootFilesystem: true
runAsNonRoot: true
{{- end }}

{{/* In-cluster, required: without the ServiceAccount token the run fails instead of trying an embedded plane. */}}
{{- define "pss-harness.env" -}}
- {name: PSS_HARNESS_IN_CLUSTER, value: "1"}
- {name: HOME, value: /tmp}
- {name: PYTHONDONTWRITEBYTECODE, value: "1"}
{{- end }}

{{- define "pss-harness.evidenceVolume" -}}
- name: evidence
{{- if .Values.evidence.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ .Values.evidence.persistence.existingClaim | default "pss-harness-evidence" }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end }}

{{- define "pss-harness.pullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
