{{/*
Environment of each container, under the names runguard reads (src/config.ts SETTINGS: upstream's
own AGENTS_… names for the settings shared with the Agents controllers, RUNGUARD_… for runguard's).
Each container gets the settings it acts on (README "Configure": the `read by` column); both load
and validate the whole configuration at start.
*/}}

{{- define "runguard.env.common.head" -}}
- name: RUNGUARD_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: RUNGUARD_POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{- define "runguard.env.common.tail" -}}
- name: AGENTS_CONTROLLER_EVENTS_ENABLED
  value: {{ .Values.events.enabled | toString | quote }}
- name: AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN
  value: {{ .Values.events.rateLimitPerMin | int64 | toString | quote }}
- name: RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS
  value: {{ .Values.idleMemoryReleaseSeconds | int64 | toString | quote }}
- name: RUNGUARD_LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
{{- range $name := keys .Values.env.vars | sortAlpha }}
- name: {{ $name }}
  value: {{ index $.Values.env.vars $name | toString | quote }}
{{- end }}
{{- end -}}

{{- define "runguard.env.list" -}}
{{- $name := index . 0 -}}{{- $values := index . 1 -}}
{{- if $values }}
- name: {{ $name }}
  value: {{ toJson $values | quote }}
{{- end }}
{{- end -}}

{{- define "runguard.env.webhook" -}}
{{ include "runguard.env.common.head" . }}
- name: RUNGUARD_SERVICE_ACCOUNT_NAME
  value: {{ include "runguard.serviceAccountName" . | quote }}
- name: RUNGUARD_CONTROLLER_USERS
  value: {{ toJson .Values.controllerIdentities.users | quote }}
{{- include "runguard.env.list" (list "RUNGUARD_CONTROLLER_GROUPS" .Values.controllerIdentities.groups) }}
{{- include "runguard.env.list" (list "RUNGUARD_BREAK_GLASS_USERS" .Values.breakGlass.users) }}
{{- include "runguard.env.list" (list "RUNGUARD_BREAK_GLASS_GROUPS" .Values.breakGlass.groups) }}
{{- $policy := .Values.controller.admissionPolicy }}
{{- include "runguard.env.list" (list "AGENTS_CONTROLLER_LABELS_REQUIRED" $policy.labels.required) }}
{{- include "runguard.env.list" (list "AGENTS_CONTROLLER_LABELS_ALLOWED" $policy.labels.allowed) }}
{{- include "runguard.env.list" (list "AGENTS_CONTROLLER_LABELS_DENIED" $policy.labels.denied) }}
{{- include "runguard.env.list" (list "AGENTS_CONTROLLER_IMAGES_ALLOWED" $policy.images.allowed) }}
{{- include "runguard.env.list" (list "AGENTS_CONTROLLER_IMAGES_DENIED" $policy.images.denied) }}
{{- include "runguard.env.list" (list "AGENTS_CONTROLLER_BLOCKED_SECRETS" $policy.secrets.blocked) }}
- name: AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED
  value: {{ .Values.controller.agentRunImmutabilityEnforced | toString | quote }}
{{- if .Values.enforcement }}
{{- $pairs := list }}
{{- range $set := keys .Values.enforcement | sortAlpha }}{{ $pairs = append $pairs (printf "%s=%s" $set (index $.Values.enforcement $set)) }}{{ end }}
- name: RUNGUARD_ENFORCEMENT
  value: {{ join "," $pairs | quote }}
{{- end }}
{{- if include "runguard.managesConfigurations" . }}
{{- /* Read by runguard's TLS/registration controller (see README "Safe ordering"). */}}
- name: RUNGUARD_TLS_MODE
  value: {{ .Values.tls.mode | quote }}
- name: RUNGUARD_TLS_SERVICE_NAME
  value: {{ include "runguard.webhookServiceName" . | quote }}
- name: RUNGUARD_TLS_LEASE_NAME
  value: {{ include "runguard.tlsLeaseName" . | quote }}
- name: RUNGUARD_WEBHOOK_CONFIGURATIONS
  value: {{ printf "%s-mutating,%s-validating" (include "runguard.fullname" .) (include "runguard.fullname" .) | quote }}
{{- if eq .Values.tls.mode "self-managed" }}
- name: RUNGUARD_TLS_SECRET_NAME
  value: {{ include "runguard.tlsSecretName" . | quote }}
- name: RUNGUARD_TLS_CA_VALIDITY_DAYS
  value: {{ .Values.tls.selfManaged.caValidityDays | int64 | toString | quote }}
- name: RUNGUARD_TLS_CERT_VALIDITY_DAYS
  value: {{ .Values.tls.selfManaged.certValidityDays | int64 | toString | quote }}
- name: RUNGUARD_TLS_RENEW_BEFORE_DAYS
  value: {{ .Values.tls.selfManaged.renewBeforeDays | int64 | toString | quote }}
{{- end }}
{{- end }}
{{ include "runguard.env.common.tail" . }}
{{- with .Values.webhook.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "runguard.env.reconciler" -}}
{{ include "runguard.env.common.head" . }}
{{- if .Values.controller.namespaces }}
- name: AGENTS_CONTROLLER_NAMESPACES
  value: {{ join "," .Values.controller.namespaces | quote }}
{{- end }}
{{- $jobTtl := .Values.controller.jobTtlSecondsAfterFinished }}
{{- if hasKey .Values.controller "jobTtlSeconds" }}{{ $jobTtl = .Values.controller.jobTtlSeconds }}{{ end }}
- name: AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS
  value: {{ $jobTtl | int64 | toString | quote }}
- name: AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS
  value: {{ .Values.controller.agentRunRetentionSeconds | int64 | toString | quote }}
- name: AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE
  value: {{ .Values.controller.agentRunRetentionMaxDeletesPerNamespace | int64 | toString | quote }}
- name: AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS
  value: {{ .Values.controller.agentRunRetentionZeroTtlMaxSeconds | int64 | toString | quote }}
- name: AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS
  value: {{ .Values.reconciler.cancelTimeoutMs | int64 | toString | quote }}
- name: RUNGUARD_RETENTION_ENABLED
  value: {{ .Values.reconciler.retentionEnabled | toString | quote }}
- name: RUNGUARD_JOB_MISSING_GRACE_SECONDS
  value: {{ .Values.reconciler.jobMissingGraceSeconds | int64 | toString | quote }}
- name: RUNGUARD_RECONCILE_CONCURRENCY
  value: {{ .Values.reconciler.concurrency | int64 | toString | quote }}
- name: RUNGUARD_RESYNC_SECONDS
  value: {{ .Values.reconciler.resyncSeconds | int64 | toString | quote }}
- name: RUNGUARD_LEASE_NAME
  value: {{ include "runguard.leaseName" . | quote }}
{{- with .Values.reconciler.leaderElection.leaseNamespace }}
- name: RUNGUARD_LEASE_NAMESPACE
  value: {{ . | quote }}
{{- end }}
- name: RUNGUARD_LEASE_DURATION_SECONDS
  value: {{ .Values.reconciler.leaderElection.leaseDurationSeconds | int64 | toString | quote }}
- name: RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS
  value: {{ .Values.reconciler.leaderElection.renewDeadlineSeconds | int64 | toString | quote }}
- name: RUNGUARD_LEASE_RETRY_PERIOD_SECONDS
  value: {{ .Values.reconciler.leaderElection.retryPeriodSeconds | int64 | toString | quote }}
{{ include "runguard.env.common.tail" . }}
{{- with .Values.reconciler.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "runguard.envFrom" -}}
{{- range .Values.envFromSecretRefs }}
- secretRef:
    name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
{{- end }}
{{- range .Values.envFromConfigMapRefs }}
- configMapRef:
    name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
{{- end }}
{{- end -}}
