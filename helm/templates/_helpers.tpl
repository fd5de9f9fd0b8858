{{/*
Names. Objects are `tradestream-<part>` whatever the release is called: Dagster's chart
takes plain values and must name our ConfigMap, Secrets and PVC literally, so the names
cannot depend on the release. One TradeStream release per namespace.
*/}}
{{- define "tradestream.fullname" -}}tradestream{{- end -}}

{{- define "tradestream.name" -}}
{{- printf "%s-%s" (include "tradestream.fullname" .root) .part | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tradestream.selectorLabels" -}}
app.kubernetes.io/name: tradestream
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tradestream.labels" -}}
{{ include "tradestream.selectorLabels" . }}
app.kubernetes.io/part-of: tradestream
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{/* Labels that open the Kafka and Flink NetworkPolicies to a pod. */}}
{{- define "tradestream.kafkaClientLabel" -}}
tradestream.io/kafka-client: "true"
{{- end -}}
{{- define "tradestream.flinkClientLabel" -}}
tradestream.io/flink-client: "true"
{{- end -}}

{{/* Images */}}
{{- define "tradestream.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}

{{- define "tradestream.kafkaImage" -}}
{{- printf "%s:%s" .Values.kafka.image.repository (.Values.kafka.image.tag | toString) -}}
{{- end -}}

{{/* pipeline.version as a string: `--set pipeline.version=1.19` arrives as a number. */}}
{{- define "tradestream.flinkVersion" -}}
{{- .Values.pipeline.version | toString -}}
{{- end -}}

{{- define "tradestream.flinkImage" -}}
{{- $tags := dict "1.17" "1.17.2-java11" "1.18" "1.18.1-java17" "1.19" "1.19.3-java17" -}}
{{- $tag := .Values.pipeline.flink.image.tag | default (get $tags (include "tradestream.flinkVersion" .)) -}}
{{- printf "%s:%s" .Values.pipeline.flink.image.repository ($tag | toString) -}}
{{- end -}}

{{/* Addresses */}}
{{- define "tradestream.kafkaHeadless" -}}
{{- include "tradestream.name" (dict "root" . "part" "kafka-headless") -}}
{{- end -}}

{{/*
The clients' Service is not called tradestream-kafka: Kubernetes' service links would give
pods a variable TRADESTREAM_KAFKA_PORT=tcp://..., which the settings read as kafka.port.
*/}}
{{- define "tradestream.kafkaBootstrapService" -}}
{{- include "tradestream.name" (dict "root" . "part" "kafka-bootstrap") -}}
{{- end -}}

{{- define "tradestream.kafkaBootstrap" -}}
{{- if .Values.kafka.enabled -}}
{{- printf "%s.%s.svc.%s:9092" (include "tradestream.kafkaBootstrapService" .) .Release.Namespace .Values.clusterDomain -}}
{{- else -}}
{{- .Values.kafka.externalBootstrapServers -}}
{{- end -}}
{{- end -}}

{{- define "tradestream.flinkJobManager" -}}
{{- include "tradestream.name" (dict "root" . "part" "flink-jobmanager") -}}
{{- end -}}

{{/* Where Beam pipelines go: the session cluster (wet) or Beam's embedded Flink (dry). */}}
{{- define "tradestream.flinkMaster" -}}
{{- if eq .Values.pipeline.runMode "wet" -}}
{{- printf "%s.%s.svc.%s:8081" (include "tradestream.flinkJobManager" .) .Release.Namespace .Values.clusterDomain -}}
{{- else -}}
[local]
{{- end -}}
{{- end -}}

{{- define "tradestream.kafkaSecurityProtocol" -}}
{{- if .Values.kafka.sasl.enabled -}}SASL_PLAINTEXT{{- else -}}PLAINTEXT{{- end -}}
{{- end -}}

{{/* Fixed names other charts' values refer to. */}}
{{- define "tradestream.envConfigMap" -}}tradestream-env{{- end -}}
{{- define "tradestream.kafkaClientSecret" -}}tradestream-kafka-client{{- end -}}
{{- define "tradestream.kafkaBrokerSecret" -}}tradestream-kafka-broker{{- end -}}
{{- define "tradestream.postgresqlSecret" -}}tradestream-dagster-postgresql{{- end -}}
{{- define "tradestream.dataClaim" -}}tradestream-data{{- end -}}
{{- define "tradestream.streamTemplates" -}}tradestream-stream-templates{{- end -}}
{{- define "tradestream.streamServiceAccount" -}}tradestream-streams{{- end -}}

{{/* Environment every TradeStream container gets: settings from the ConfigMap, Kafka
credentials from the Secret (empty unless SASL is on). */}}
{{- define "tradestream.envFrom" -}}
- configMapRef:
    name: {{ include "tradestream.envConfigMap" . }}
- secretRef:
    name: {{ include "tradestream.kafkaClientSecret" . }}
{{- end -}}

{{- define "tradestream.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "tradestream.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/*
A random password that survives upgrades: reuse the one in the live Secret when it exists
(`lookup` sees the cluster during install and upgrade; `helm template` sees nothing).
*/}}
{{- define "tradestream.keptPassword" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}

{{/*
Checks of values that a JSON schema cannot express (or that a --skip-schema-validation
install would let through). Each message names the value and says what to do.
*/}}
{{- define "tradestream.validate" -}}
{{- $flinkVersions := list "1.17" "1.18" "1.19" -}}
{{- $version := include "tradestream.flinkVersion" . -}}
{{- if not (has $version $flinkVersions) -}}
{{- fail (printf "pipeline.version %q is not a Flink version the Beam 2.62 Flink runner supports; set pipeline.version to one of %s" $version (join ", " $flinkVersions)) -}}
{{- end -}}
{{- if not (has .Values.pipeline.runMode (list "wet" "dry")) -}}
{{- fail (printf "pipeline.runMode %q is not wet or dry; wet runs pipelines on the Flink session cluster, dry on Beam's embedded Flink" (toString .Values.pipeline.runMode)) -}}
{{- end -}}
{{- /* the ingest modes a cluster runs: streaming/venues/registry.py CLUSTER_MODES (a test keeps them equal) */ -}}
{{- $ingestModes := list "wet" "dry" -}}
{{- if not (has .Values.dataIngestion.runMode $ingestModes) -}}
{{- fail (printf "dataIngestion.runMode %q is not one of %s; wet ingests from the live exchange (TRADESTREAM_INGEST_EXCHANGE, default coinbase), dry from the market simulator" (toString .Values.dataIngestion.runMode) (join ", " $ingestModes)) -}}
{{- end -}}
{{- $kafka := .Values.kafka -}}
{{- if $kafka.enabled -}}
{{- if lt (int $kafka.replicaCount) 1 -}}
{{- fail (printf "kafka.replicaCount=%v must be at least 1" $kafka.replicaCount) -}}
{{- end -}}
{{- if gt (int $kafka.replicationFactor) (int $kafka.replicaCount) -}}
{{- fail (printf "kafka.replicationFactor=%v exceeds kafka.replicaCount=%v: a topic cannot have more replicas than brokers; lower kafka.replicationFactor (and kafka.minInsyncReplicas) or add brokers" $kafka.replicationFactor $kafka.replicaCount) -}}
{{- end -}}
{{- if not (regexMatch "^[A-Za-z0-9_-]{22}$" (toString $kafka.clusterId)) -}}
{{- fail (printf "kafka.clusterId %q is not a KRaft cluster id (22 characters of base64url); generate one with `kafka-storage.sh random-uuid`" (toString $kafka.clusterId)) -}}
{{- end -}}
{{- else if not $kafka.externalBootstrapServers -}}
{{- fail "kafka.enabled=false needs kafka.externalBootstrapServers (HOST:PORT[,HOST:PORT...]) of the cluster to use" -}}
{{- end -}}
{{- if gt (int $kafka.minInsyncReplicas) (int $kafka.replicationFactor) -}}
{{- fail (printf "kafka.minInsyncReplicas=%v exceeds kafka.replicationFactor=%v: no write could ever be acknowledged; lower kafka.minInsyncReplicas" $kafka.minInsyncReplicas $kafka.replicationFactor) -}}
{{- end -}}
{{- if .Values.dagster.enabled -}}
{{- include "tradestream.validateDagster" . -}}
{{- end -}}
{{- end -}}

{{- define "tradestream.validateDagster" -}}
{{- $dagster := .Values.dagster -}}
{{- $webserverService := $dagster.dagsterWebserver.service | default dict -}}
{{- $serviceType := $webserverService.type | default "ClusterIP" -}}
{{- $ingress := $dagster.ingress | default dict -}}
{{- if and (ne $serviceType "ClusterIP") (not $ingress.enabled) -}}
{{- fail (printf "dagster.dagsterWebserver.service.type=%s would expose Dagster's webserver outside the cluster; keep ClusterIP and set dagster.ingress.enabled=true (with TLS and authentication in front) to publish it" $serviceType) -}}
{{- end -}}
{{- $userDeployments := index $dagster "dagster-user-deployments" | default dict -}}
{{- $found := false -}}
{{- range $deployment := ($userDeployments.deployments | default list) -}}
{{- if eq $deployment.name "tradestream" -}}
{{- $found = true -}}
{{- $image := printf "%s:%s" $deployment.image.repository ($deployment.image.tag | toString) -}}
{{- if ne $image (include "tradestream.image" $) -}}
{{- fail (printf "Dagster's user-code deployment runs image %s but the streams run %s; set dagster.dagster-user-deployments.deployments[name=tradestream].image to the same repository and tag as image" $image (include "tradestream.image" $)) -}}
{{- end -}}
{{- $configMaps := list -}}
{{- range ($deployment.envConfigMaps | default list) -}}{{- $configMaps = append $configMaps .name -}}{{- end -}}
{{- if not (has (include "tradestream.envConfigMap" $) $configMaps) -}}
{{- fail (printf "Dagster's user-code deployment must read the ConfigMap %s (envConfigMaps) to find Kafka and Flink; it lists %v" (include "tradestream.envConfigMap" $) $configMaps) -}}
{{- end -}}
{{- $dataMounted := false -}}
{{- range ($deployment.volumeMounts | default list) -}}
{{- if eq .mountPath $.Values.data.mountPath -}}{{- $dataMounted = true -}}{{- end -}}
{{- end -}}
{{- if not $dataMounted -}}
{{- fail (printf "Dagster's user-code deployment does not mount data.mountPath=%s (its volumeMounts); DuckDB and TradeStream's home live there: mount the PVC %s at that path" $.Values.data.mountPath (include "tradestream.dataClaim" $)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $dagster.global.serviceAccountName -}}
{{- fail "dagster.global.serviceAccountName is empty; the stream supervisor's RoleBinding needs the name of Dagster's ServiceAccount (default tradestream-dagster)" -}}
{{- end -}}
{{- if not $found -}}
{{- fail "dagster.dagster-user-deployments.deployments has no entry named tradestream; keep the one in the chart's values.yaml (image, dagsterApiGrpcArgs, env) and change only what you need" -}}
{{- end -}}
{{- end -}}
