{{/*
Names. Kubernetes names are at most 63 characters (DNS labels), so every name
is truncated there, leaving room for the suffixes the templates add.
*/}}
{{- define "craft-jobs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "craft-jobs.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<suffix>", truncated so the whole stays within 63. Call with (list . "suffix"). */}}
{{- define "craft-jobs.componentName" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "craft-jobs.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base $suffix }}
{{- end }}

{{- define "craft-jobs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "craft-jobs.labels" -}}
helm.sh/chart: {{ include "craft-jobs.chart" . }}
app.kubernetes.io/name: {{ include "craft-jobs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: craft-jobs
{{- end }}

{{/* Selector labels of one component. Call with (list . "operator"). */}}
{{- define "craft-jobs.selectorLabels" -}}
{{- $root := index . 0 }}
app.kubernetes.io/name: {{ include "craft-jobs.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "craft-jobs.componentLabels" -}}
{{ include "craft-jobs.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "craft-jobs.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "craft-jobs.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "craft-jobs.componentName" (list . "operator")) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "craft-jobs.dashboardServiceAccountName" -}}
{{- if .Values.dashboard.serviceAccount.create }}
{{- default (include "craft-jobs.componentName" (list . "dashboard")) .Values.dashboard.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.dashboard.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the connection string: the chart's own when it was given one. */}}
{{- define "craft-jobs.databaseSecretName" -}}
{{- if .Values.database.connectionString }}
{{- include "craft-jobs.componentName" (list . "database") }}
{{- else }}
{{- required "set database.existingSecret (a Secret with the PostgreSQL connection string) or database.connectionString" .Values.database.existingSecret }}
{{- end }}
{{- end }}

{{- define "craft-jobs.dashboardTokensSecretName" -}}
{{- default (include "craft-jobs.componentName" (list . "dashboard-tokens")) .Values.dashboard.auth.tokensSecret }}
{{- end }}

{{- define "craft-jobs.webhookServiceName" -}}
{{- include "craft-jobs.componentName" (list . "webhook") }}
{{- end }}

{{- define "craft-jobs.webhookSecretName" -}}
{{- default (include "craft-jobs.componentName" (list . "webhook-tls")) .Values.webhooks.certificate.existingSecret }}
{{- end }}

{{- define "craft-jobs.defaultJobImage" -}}
{{- default (printf "ghcr.io/craft-jobs/craft-jobs-runner:%s" .Chart.AppVersion) .Values.jobs.defaultImage }}
{{- end }}

{{/* Where Jobs without a resource run: it must be a namespace the operator may create Jobs in. */}}
{{- define "craft-jobs.jobNamespace" -}}
{{- $namespaces := .Values.rbac.namespaces }}
{{- $namespace := .Values.jobs.namespace | default (ternary (first $namespaces) .Release.Namespace (gt (len $namespaces) 0)) }}
{{- if and $namespaces (not (has $namespace $namespaces)) }}
{{- fail (printf "jobs.namespace %q must be one of rbac.namespaces %v: the operator may only create Jobs there" $namespace $namespaces) }}
{{- end }}
{{- $namespace }}
{{- end }}

{{/*
Pod and container security contexts meeting the "restricted" Pod Security
Standard, with a read-only root file system (writable /tmp is an emptyDir).
*/}}
{{- define "craft-jobs.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "craft-jobs.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The options every control-plane process reads (JobOptions, CRAFT_JOBS_*).
The connection string only ever comes from a Secret.
*/}}
{{- define "craft-jobs.optionsEnv" -}}
- name: CRAFT_JOBS_MODE
  value: cluster
- name: CRAFT_JOBS_CONNECTION_STRING
  valueFrom:
    secretKeyRef:
      name: {{ include "craft-jobs.databaseSecretName" . }}
      key: {{ .Values.database.secretKey }}
- name: CRAFT_JOBS_ENABLE_DASHBOARD
  value: {{ .Values.dashboard.enabled | quote }}
- name: CRAFT_JOBS_DASHBOARD_PATH
  value: {{ .Values.dashboard.path | quote }}
- name: CRAFT_JOBS_DASHBOARD_AUTH_MODE
  value: {{ .Values.dashboard.auth.mode | quote }}
- name: CRAFT_JOBS_WORKER_COUNT
  value: {{ .Values.options.workerCount | quote }}
- name: CRAFT_JOBS_MAX_RETRY_ATTEMPTS
  value: {{ .Values.options.maxRetryAttempts | quote }}
- name: CRAFT_JOBS_ENABLE_AUTOMATIC_RETRY
  value: {{ .Values.options.enableAutomaticRetry | quote }}
- name: CRAFT_JOBS_JOB_EXPIRATION_DAYS
  value: {{ .Values.options.jobExpirationDays | quote }}
{{- if gt (int .Values.options.auditRetentionDays) 0 }}
- name: CRAFT_JOBS_AUDIT_RETENTION_DAYS
  value: {{ .Values.options.auditRetentionDays | quote }}
{{- end }}
- name: CRAFT_JOBS_ENABLE_MULTI_TENANCY
  value: {{ .Values.options.enableMultiTenancy | quote }}
- name: CRAFT_JOBS_SCHEMA_NAME
  value: {{ .Values.options.schemaName | quote }}
- name: CRAFT_JOBS_POLLING_INTERVAL_SECONDS
  value: {{ .Values.options.pollingIntervalSeconds | quote }}
- name: CRAFT_JOBS_ENABLE_DETAILED_LOGGING
  value: {{ .Values.options.enableDetailedLogging | quote }}
{{- with .Values.options.clientFilters }}
- name: CRAFT_JOBS_CLIENT_FILTERS
  value: {{ join "," . | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.options.tenantConcurrencyLimit) }}
- name: CRAFT_JOBS_TENANT_CONCURRENCY_LIMIT
  value: {{ .Values.options.tenantConcurrencyLimit | quote }}
{{- end }}
{{- with .Values.options.tenantConcurrencyLimits }}
- name: CRAFT_JOBS_TENANT_CONCURRENCY_LIMITS
  value: {{ include "craft-jobs.limits" . | quote }}
{{- end }}
- name: CRAFT_JOBS_TENANT_HEADROOM_SLOTS
  value: {{ .Values.options.tenantHeadroomSlots | quote }}
{{- with .Values.options.queueConcurrencyLimits }}
- name: CRAFT_JOBS_QUEUE_CONCURRENCY_LIMITS
  value: {{ include "craft-jobs.limits" . | quote }}
{{- end }}
- name: CRAFT_JOBS_DEFAULT_IMAGE
  value: {{ include "craft-jobs.defaultJobImage" . | quote }}
{{- end }}

{{/* A map of name: limit as the options' "name=limit,..." form, in key order. */}}
{{- define "craft-jobs.limits" -}}
{{- $pairs := list }}
{{- range $name, $limit := . }}
{{- $pairs = append $pairs (printf "%s=%v" $name (int64 $limit)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* Where job pods reach the REST API (context.scheduler); empty: runs may not schedule. */}}
{{- define "craft-jobs.jobApiUrl" -}}
{{- if .Values.jobs.scheduler.enabled }}
{{- if .Values.jobs.scheduler.apiUrl }}
{{- .Values.jobs.scheduler.apiUrl }}
{{- else if .Values.dashboard.enabled }}
{{- printf "http://%s.%s.svc:%v" (include "craft-jobs.componentName" (list . "dashboard")) .Release.Namespace .Values.dashboard.service.port }}
{{- end }}
{{- end }}
{{- end }}
