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

{{/* Images: repository@digest when a digest is given (pinned by content), else repository:tag. */}}
{{- define "tradestream.imageRef" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (.tag | toString) -}}
{{- end -}}
{{- end -}}

{{- define "tradestream.image" -}}
{{- include "tradestream.imageRef" (dict "repository" .Values.image.repository "tag" (.Values.image.tag | default .Chart.AppVersion) "digest" .Values.image.digest) -}}
{{- end -}}

{{- define "tradestream.kafkaImage" -}}
{{- include "tradestream.imageRef" .Values.kafka.image -}}
{{- end -}}

{{/* pipeline.version as a string: `--set pipeline.version=1.19` arrives as a number. */}}
{{- define "tradestream.flinkVersion" -}}
{{- .Values.pipeline.version | toString -}}
{{- end -}}

{{- define "tradestream.flinkImage" -}}
{{- $tags := dict "1.17" "1.17.2-java11" "1.18" "1.18.1-java17" "1.19" "1.19.3-java17" -}}
{{- $tag := .Values.pipeline.flink.image.tag | default (get $tags (include "tradestream.flinkVersion" .)) -}}
{{- include "tradestream.imageRef" (dict "repository" .Values.pipeline.flink.image.repository "tag" $tag "digest" .Values.pipeline.flink.image.digest) -}}
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
{{- .Values.kafka.security.protocol -}}
{{- end -}}

{{- define "tradestream.kafkaSecured" -}}
{{- if eq .Values.kafka.security.protocol "SASL_SSL" -}}true{{- end -}}
{{- end -}}

{{/* Fixed names other charts' values refer to. */}}
{{- define "tradestream.envConfigMap" -}}tradestream-env{{- end -}}
{{- define "tradestream.kafkaBrokerSecret" -}}tradestream-kafka-broker{{- end -}}
{{- define "tradestream.kafkaAdminSecret" -}}tradestream-kafka-admin{{- end -}}
{{- define "tradestream.kafkaUserSecretPrefix" -}}tradestream-kafka-user-{{- end -}}
{{- define "tradestream.kafkaTlsSecret" -}}tradestream-kafka-tls{{- end -}}
{{- define "tradestream.postgresqlSecret" -}}tradestream-dagster-postgresql{{- end -}}
{{- define "tradestream.dataClaim" -}}tradestream-data{{- end -}}
{{- define "tradestream.flinkStateClaim" -}}tradestream-flink-state{{- end -}}
{{- define "tradestream.streamTemplates" -}}tradestream-stream-templates{{- end -}}
{{- define "tradestream.streamServiceAccount" -}}tradestream-streams{{- end -}}
{{- define "tradestream.flinkServiceAccount" -}}tradestream-flink{{- end -}}

{{/*
The platform's Kafka components, one SCRAM user each: streaming/kafka/access.py COMPONENTS
(a test keeps the two equal). The users are tradestream-<component>; the brokers' own user, the
controllers' and the admin are kafka-broker, controller and tradestream-admin, as in
tradestream/runtime/kafka.py (a test compares the brokers' security settings with the local ones).
*/}}
{{- define "tradestream.kafkaComponents" -}}ingestion candles signals warehouse executor kafka-ui{{- end -}}
{{- define "tradestream.kafkaAdminUser" -}}tradestream-admin{{- end -}}
{{- define "tradestream.kafkaBrokerUser" -}}kafka-broker{{- end -}}
{{- define "tradestream.kafkaControllerUser" -}}controller{{- end -}}
{{- define "tradestream.kafkaTlsMountPath" -}}/etc/tradestream/kafka-tls{{- end -}}

{{/* Environment a TradeStream container gets: settings from the ConfigMap and, for a Kafka client,
its component's credentials (dict: root, component; the Secret is empty without SASL). */}}
{{- define "tradestream.envFrom" -}}
- configMapRef:
    name: {{ include "tradestream.envConfigMap" .root }}
{{- if .component }}
- secretRef:
    name: {{ printf "%s%s" (include "tradestream.kafkaUserSecretPrefix" .root) .component }}
{{- end }}
{{- end -}}

{{/* The CA that signed the brokers' certificate, for Kafka clients (a volume and its mount). */}}
{{- define "tradestream.kafkaCaVolume" -}}
{{- if include "tradestream.kafkaSecured" . }}
- name: kafka-tls
  secret:
    secretName: {{ include "tradestream.kafkaTlsSecret" . }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}
{{- define "tradestream.kafkaCaMount" -}}
{{- if include "tradestream.kafkaSecured" . }}
- name: kafka-tls
  mountPath: {{ include "tradestream.kafkaTlsMountPath" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Flink state: the root URI of checkpoints and savepoints, and (volume storage) its volume and mount. */}}
{{- define "tradestream.flinkStateMountPath" -}}/var/lib/tradestream/flink-state{{- end -}}
{{- define "tradestream.flinkStateDir" -}}
{{- if eq .Values.pipeline.state.storage "s3" -}}
{{- .Values.pipeline.state.s3.uri | trimSuffix "/" -}}
{{- else -}}
{{- printf "file://%s" (include "tradestream.flinkStateMountPath" .) -}}
{{- end -}}
{{- end -}}
{{- define "tradestream.flinkStateVolume" -}}
{{- if eq .Values.pipeline.state.storage "volume" }}
- name: flink-state
  persistentVolumeClaim:
    claimName: {{ .Values.pipeline.state.volume.existingClaim | default (include "tradestream.flinkStateClaim" .) }}
{{- end }}
{{- end -}}
{{- define "tradestream.flinkStateMount" -}}
{{- if eq .Values.pipeline.state.storage "volume" }}
- name: flink-state
  mountPath: {{ include "tradestream.flinkStateMountPath" . }}
{{- end }}
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
{{- if not (has $kafka.security.protocol (list "SASL_SSL" "PLAINTEXT")) -}}
{{- fail (printf "kafka.security.protocol %q is not SASL_SSL or PLAINTEXT" (toString $kafka.security.protocol)) -}}
{{- end -}}
{{- $state := .Values.pipeline.state -}}
{{- if and (eq $state.storage "s3") (not (regexMatch "^s3a?://[^/]+" $state.s3.uri)) -}}
{{- fail (printf "pipeline.state.storage=s3 needs pipeline.state.s3.uri like s3://bucket/prefix (got %q)" $state.s3.uri) -}}
{{- end -}}
{{- if and (eq $state.storage "s3") (not $state.s3.credentialsSecret) -}}
{{- fail "pipeline.state.storage=s3 needs pipeline.state.s3.credentialsSecret: a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" -}}
{{- end -}}
{{- if and (eq $state.storage "s3") (eq .Values.pipeline.runMode "dry") -}}
{{- fail "pipeline.state.storage=s3 needs pipeline.runMode=wet: Beam's embedded Flink in a dry submitter has no S3 file system; use storage=volume" -}}
{{- end -}}
{{- if and (gt (int .Values.pipeline.flink.jobManager.replicas) 1) (not .Values.pipeline.flink.highAvailability.enabled) -}}
{{- fail (printf "pipeline.flink.jobManager.replicas=%v needs pipeline.flink.highAvailability.enabled: without leader election a second JobManager is a second cluster" .Values.pipeline.flink.jobManager.replicas) -}}
{{- end -}}
{{- include "tradestream.validateExposure" . -}}
{{- if .Values.dagster.enabled -}}
{{- include "tradestream.validateDagster" . -}}
{{- end -}}
{{- end -}}

{{- define "tradestream.validateExposure" -}}
{{- $exposure := .Values.exposure -}}
{{- range $ui := list "dagster" "kafkaUi" -}}
{{- $wanted := index $exposure $ui -}}
{{- if $wanted.enabled -}}
{{- if not $wanted.host -}}
{{- fail (printf "exposure.%s.enabled needs exposure.%s.host, the host name it is published under" $ui $ui) -}}
{{- end -}}
{{- if not $exposure.tlsSecret -}}
{{- fail (printf "exposure.%s.enabled needs exposure.tlsSecret: a kubernetes.io/tls Secret for %s; the UIs are only published over TLS" $ui $wanted.host) -}}
{{- end -}}
{{- if not (and $exposure.authProxy.oidcIssuerUrl $exposure.authProxy.clientSecret) -}}
{{- fail (printf "exposure.%s.enabled needs exposure.authProxy.oidcIssuerUrl and exposure.authProxy.clientSecret (a Secret with client-id, client-secret, cookie-secret): the UIs are only published behind authentication" $ui) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $exposure.kafkaUi.enabled (not $.Values.kafkaUi.enabled) -}}
{{- fail "exposure.kafkaUi.enabled needs kafkaUi.enabled" -}}
{{- end -}}
{{- end -}}

{{- define "tradestream.validateDagster" -}}
{{- $dagster := .Values.dagster -}}
{{- $webserverService := $dagster.dagsterWebserver.service | default dict -}}
{{- $serviceType := $webserverService.type | default "ClusterIP" -}}
{{- $ingress := $dagster.ingress | default dict -}}
{{- if ne $serviceType "ClusterIP" -}}
{{- fail (printf "dagster.dagsterWebserver.service.type=%s would expose Dagster's webserver outside the cluster without authentication; keep ClusterIP and set exposure.dagster.enabled (TLS and an authenticating proxy in front) to publish it" $serviceType) -}}
{{- end -}}
{{- if $ingress.enabled -}}
{{- fail "dagster.ingress.enabled would publish Dagster's webserver without authentication; set exposure.dagster.enabled instead (an Ingress with TLS in front of an authenticating proxy)" -}}
{{- end -}}
{{- $userDeployments := index $dagster "dagster-user-deployments" | default dict -}}
{{- $found := false -}}
{{- range $deployment := ($userDeployments.deployments | default list) -}}
{{- if eq $deployment.name "tradestream" -}}
{{- $found = true -}}
{{- $image := include "tradestream.imageRef" (dict "repository" $deployment.image.repository "tag" $deployment.image.tag "digest" $deployment.image.digest) -}}
{{- if ne $image (include "tradestream.image" $) -}}
{{- fail (printf "Dagster's user-code deployment runs image %s but the streams run %s; set dagster.dagster-user-deployments.deployments[name=tradestream].image to the same repository and tag (or digest) as image" $image (include "tradestream.image" $)) -}}
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
{{- if $dagster.global.serviceAccountName -}}
{{- fail (printf "dagster.global.serviceAccountName=%s would run every Dagster pod, the webserver included, as one account; leave it empty: the webserver and daemon run as %s, the code server and run pods as the stream supervisor's %s" $dagster.global.serviceAccountName .Values.rbac.dagsterServiceAccount .Values.rbac.supervisorServiceAccount) -}}
{{- end -}}
{{- if ne ($dagster.serviceAccount.name | default "") .Values.rbac.dagsterServiceAccount -}}
{{- fail (printf "dagster.serviceAccount.name must be rbac.dagsterServiceAccount (%s), the account this chart creates without an automatic token" .Values.rbac.dagsterServiceAccount) -}}
{{- end -}}
{{- if not $found -}}
{{- fail "dagster.dagster-user-deployments.deployments has no entry named tradestream; keep the one in the chart's values.yaml (image, dagsterApiGrpcArgs, env) and change only what you need" -}}
{{- end -}}
{{- end -}}

{{/*
How a Flink process starts (the image's entrypoint is not used, so nothing rewrites the
configuration): with S3 state the image's S3 file system plugin is linked into a writable
plugins folder first; with HA the JobManager advertises its pod IP. dict: root, process.
*/}}
{{- define "tradestream.flinkStart" -}}
{{- $root := .root -}}
{{- $lines := list "set -euo pipefail" "mkdir -p \"${FLINK_PLUGINS_DIR}\"" -}}
{{- if eq $root.Values.pipeline.state.storage "s3" -}}
{{- $lines = append $lines "mkdir -p \"${FLINK_PLUGINS_DIR}/s3-fs-presto\" && ln -sf /opt/flink/opt/flink-s3-fs-presto-*.jar \"${FLINK_PLUGINS_DIR}/s3-fs-presto/\"" -}}
{{- end -}}
{{- if and (eq .process "jobmanager") $root.Values.pipeline.flink.highAvailability.enabled -}}
{{- $lines = append $lines "exec /opt/flink/bin/jobmanager.sh start-foreground \"${POD_IP}\"" -}}
{{- else -}}
{{- $lines = append $lines (printf "exec /opt/flink/bin/%s.sh start-foreground" .process) -}}
{{- end -}}
{{- join "; " $lines -}}
{{- end -}}

{{/* The S3 credentials of the Flink processes (pipeline.state.storage=s3). */}}
{{- define "tradestream.flinkS3Env" -}}
{{- if eq .Values.pipeline.state.storage "s3" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.pipeline.state.s3.credentialsSecret }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.pipeline.state.s3.credentialsSecret }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- end -}}

{{/* Labels of a Dagster pod as Dagster's chart sets them (its selector labels and component). */}}
{{- define "tradestream.dagsterPodLabels" -}}
app.kubernetes.io/name: dagster
app.kubernetes.io/instance: {{ .root.Release.Name }}
component: {{ .component }}
{{- end -}}

{{/* Dagster's webserver Service, as Dagster's chart names it for this release. */}}
{{- define "tradestream.dagsterWebserverService" -}}
{{- printf "%s-dagster-webserver" .Release.Name -}}
{{- end -}}
