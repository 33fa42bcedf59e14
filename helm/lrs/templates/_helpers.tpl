{{- define "lrs.name" -}}{{ .Release.Name }}-lrs{{- end -}}

{{- define "lrs.labels" -}}
app.kubernetes.io/name: lrs
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "lrs.secretName" -}}
{{- if .Values.secrets.existingSecret -}}{{ .Values.secrets.existingSecret }}{{- else -}}{{ include "lrs.name" . }}{{- end -}}
{{- end -}}

{{/* Environment shared by every role. */}}
{{- define "lrs.env" -}}
- name: LRS_LOG_BACKEND
  value: kafka
- name: LRS_KAFKA_BROKERS
  value: {{ .Values.kafka.brokers | quote }}
- name: LRS_KAFKA_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: LRS_KAFKA_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: LRS_STORE_BACKEND
  value: {{ .Values.store.backend | quote }}
- name: LRS_SCYLLA_NODES
  value: {{ .Values.store.scylla.nodes | quote }}
- name: LRS_SCYLLA_KEYSPACE
  value: {{ .Values.store.scylla.keyspace | quote }}
- name: LRS_LISTEN
  value: "0.0.0.0:{{ .Values.service.port }}"
- name: LRS_LOG_FORMAT
  value: json
- name: LRS_BOOTSTRAP_KEY
  valueFrom: {secretKeyRef: {name: {{ include "lrs.secretName" . }}, key: bootstrap-key}}
- name: LRS_BOOTSTRAP_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "lrs.secretName" . }}, key: bootstrap-secret}}
- name: LRS_OPERATOR_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "lrs.secretName" . }}, key: operator-token, optional: true}}
- name: LRS_VAULT_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "lrs.secretName" . }}, key: vault-token, optional: true}}
- name: LRS_JWT_HS256_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "lrs.secretName" . }}, key: jwt-hs256-secret, optional: true}}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Liveness and readiness probes of every role. */}}
{{- define "lrs.probes" -}}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* The Service of the process that owns the store: it serves reads and /admin. */}}
{{- define "lrs.storeOwner" -}}
{{- if eq .Values.store.backend "scylla" -}}{{ include "lrs.name" . }}-query{{- else -}}{{ include "lrs.name" . }}-projector{{- end -}}
{{- end -}}

{{/* How many gateways share a tenant's rate limit. */}}
{{- define "lrs.gatewayReplicas" -}}
{{- if .Values.gateway.rateLimitReplicas -}}{{ .Values.gateway.rateLimitReplicas }}
{{- else if .Values.gateway.autoscaling.enabled -}}{{ .Values.gateway.autoscaling.minReplicas }}
{{- else -}}{{ .Values.gateway.replicas }}{{- end -}}
{{- end -}}
