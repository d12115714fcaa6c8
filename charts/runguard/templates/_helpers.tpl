{{/*
Names. With release name `runguard` every object is named exactly as in the kustomize manifests/
(runguard, runguard-webhook, runguard-metrics, …); test/integration/chart.test.ts compares them.
*/}}
{{- define "runguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "runguard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "runguard.namespace" -}}
{{- .Values.namespaceOverride | default .Release.Namespace -}}
{{- end -}}

{{- define "runguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: the Deployment's selector, Services, PDB, NetworkPolicy, spread constraints. */}}
{{- define "runguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "runguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object (the kustomize manifests carry the first three too). */}}
{{- define "runguard.labels" -}}
{{ include "runguard.selectorLabels" . }}
app.kubernetes.io/part-of: runguard
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "runguard.chart" . }}
{{- end -}}

{{- define "runguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "runguard.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "runguard.webhookServiceName" -}}
{{- printf "%s-webhook" (include "runguard.fullname" .) -}}
{{- end -}}

{{- define "runguard.metricsServiceName" -}}
{{- printf "%s-metrics" (include "runguard.fullname" .) -}}
{{- end -}}

{{- define "runguard.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-webhook-tls" (include "runguard.fullname" .)) -}}
{{- end -}}

{{- define "runguard.leaseName" -}}
{{- .Values.reconciler.leaderElection.leaseName | default (printf "%s-reconciler" (include "runguard.fullname" .)) -}}
{{- end -}}

{{- define "runguard.leaseNamespace" -}}
{{- .Values.reconciler.leaderElection.leaseNamespace | default (include "runguard.namespace" .) -}}
{{- end -}}

{{/* The Lease the webhook's TLS/registration controller elects on (self-managed mode, arming). */}}
{{- define "runguard.tlsLeaseName" -}}
{{- printf "%s-webhook-tls" (include "runguard.fullname" .) -}}
{{- end -}}

{{- define "runguard.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* runguard's own ServiceAccount as a Kubernetes user name: always a controller identity. */}}
{{- define "runguard.ownIdentity" -}}
{{- printf "system:serviceaccount:%s:%s" (include "runguard.namespace" .) (include "runguard.serviceAccountName" .) -}}
{{- end -}}

{{/*
CEL that is true when the request comes from one of the given users or groups — the same text
src/admission/writers.ts identityCel() writes (quotes and backslashes escaped; "false" for none).
Argument: dict "users" LIST "groups" LIST.
*/}}
{{- define "runguard.identityCel" -}}
{{- $quote := list -}}
{{- $parts := list -}}
{{- if .users -}}
{{- $items := list -}}
{{- range .users }}{{ $items = append $items (printf "'%s'" (. | replace "\\" "\\\\" | replace "'" "\\'")) }}{{ end -}}
{{- $parts = append $parts (printf "request.userInfo.username in [%s]" (join ", " $items)) -}}
{{- end -}}
{{- if .groups -}}
{{- $items := list -}}
{{- range .groups }}{{ $items = append $items (printf "'%s'" (. | replace "\\" "\\\\" | replace "'" "\\'")) }}{{ end -}}
{{- $parts = append $parts (printf "request.userInfo.groups.exists(g, g in [%s])" (join ", " $items)) -}}
{{- end -}}
{{- if $parts -}}{{ join " || " $parts }}{{- else -}}false{{- end -}}
{{- end -}}

{{/* Controller identities as configured plus runguard's own ServiceAccount, de-duplicated (as loadConfig does). */}}
{{- define "runguard.controllerUsers" -}}
{{- $users := concat .Values.controllerIdentities.users (list (include "runguard.ownIdentity" .)) | uniq -}}
{{- toJson $users -}}
{{- end -}}

{{- define "runguard.controllerCel" -}}
{{- include "runguard.identityCel" (dict "users" (include "runguard.controllerUsers" . | fromJsonArray) "groups" .Values.controllerIdentities.groups) -}}
{{- end -}}

{{- define "runguard.breakGlassCel" -}}
{{- include "runguard.identityCel" (dict "users" .Values.breakGlass.users "groups" .Values.breakGlass.groups) -}}
{{- end -}}

{{/*
The namespaceSelector of every webhook and of the status policy binding: the guarded namespaces
(controller.namespaces) or all but kube-system and runguard's own, ANDed with webhook.namespaceSelector.
*/}}
{{- define "runguard.namespaceSelector" -}}
{{- $expressions := list -}}
{{- if .Values.controller.namespaces -}}
{{- $expressions = append $expressions (dict "key" "kubernetes.io/metadata.name" "operator" "In" "values" .Values.controller.namespaces) -}}
{{- else -}}
{{- $expressions = append $expressions (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (list "kube-system" (include "runguard.namespace" .))) -}}
{{- end -}}
{{- $extra := .Values.webhook.namespaceSelector | default dict -}}
{{- $expressions = concat $expressions ($extra.matchExpressions | default list) -}}
{{- $selector := dict "matchExpressions" $expressions -}}
{{- with $extra.matchLabels }}{{ $_ := set $selector "matchLabels" . }}{{ end -}}
{{- toYaml $selector -}}
{{- end -}}

{{/* failurePolicy of the people webhooks as rendered: Ignore until runguard arms them (armWhenReady). */}}
{{- define "runguard.peopleFailurePolicy" -}}
{{- if .Values.webhook.armWhenReady -}}Ignore{{- else -}}{{ .Values.webhook.failurePolicy }}{{- end -}}
{{- end -}}

{{/* base64 of the CA for caBundle (secret mode); empty otherwise. Accepts PEM or base64 of PEM. */}}
{{- define "runguard.caBundle" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- $ca := .Values.tls.caBundle | trim -}}
{{- if hasPrefix "-----BEGIN" $ca -}}{{ printf "%s\n" $ca | b64enc }}{{- else -}}{{ $ca }}{{- end -}}
{{- end -}}
{{- end -}}

{{/* Does runguard patch its own webhook configurations (CA injection and/or arming)? */}}
{{- define "runguard.managesConfigurations" -}}
{{- if or (eq .Values.tls.mode "self-managed") .Values.webhook.armWhenReady -}}true{{- end -}}
{{- end -}}

{{/* Checks that the schema cannot express. */}}
{{- define "runguard.validate" -}}
{{- if and .Values.rbac.create (not .Values.rbac.clusterScoped) (not .Values.controller.namespaces) -}}
{{- fail "rbac.clusterScoped=false needs controller.namespaces: the Roles are made in those namespaces" -}}
{{- end -}}
{{- if and (eq .Values.tls.mode "secret") (not .Values.tls.caBundle) -}}
{{- fail "tls.mode=secret needs tls.caBundle: the CA (PEM or base64) that signed the Secret's tls.crt" -}}
{{- end -}}
{{- if has (include "runguard.namespace" .) .Values.controller.namespaces -}}
{{- fail (printf "controller.namespaces must not contain runguard's own namespace %s: runguard never judges its own objects" (include "runguard.namespace" .)) -}}
{{- end -}}
{{- end -}}

{{/*
Annotations of the two webhook configurations: cert-manager's CA injection, and the failurePolicy
runguard gives each people webhook once it answers (armWhenReady; README "Safe ordering").
Argument: dict "root" $ "people" LIST-of-webhook-names.
*/}}
{{- define "runguard.webhookConfigurationAnnotations" -}}
{{- $root := .root -}}
{{- $annotations := dict -}}
{{- if eq $root.Values.tls.mode "cert-manager" -}}
{{- $_ := set $annotations "cert-manager.io/inject-ca-from" (printf "%s/%s-webhook" (include "runguard.namespace" $root) (include "runguard.fullname" $root)) -}}
{{- end -}}
{{- if and $root.Values.webhook.armWhenReady .people -}}
{{- $pairs := list -}}
{{- range .people }}{{ $pairs = append $pairs (printf "%s=%s" . $root.Values.webhook.failurePolicy) }}{{ end -}}
{{- $_ := set $annotations "runguard.proompteng.ai/armed-failure-policy" (join "," $pairs) -}}
{{- end -}}
{{- if $annotations }}{{ toYaml $annotations }}{{ end -}}
{{- end -}}
