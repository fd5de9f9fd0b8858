{{/*
Pod specs of the streams. The chart renders the ingestion Deployment from
`tradestream.streamDeployment`, and puts both templates into the ConfigMap
tradestream-stream-templates, from which the stream supervisor's Kubernetes backend
(streaming/supervisor/k8s.py) builds the objects it creates: security contexts, resources,
probes and the NetworkPolicy labels live here, once. Every stream pod has the init container
`stream-files`, which writes the files the supervisor hands a stream in its pod spec.
*/}}

{{/* The init container writing a stream's files (streaming/supervisor/stream_files.py). */}}
{{- define "tradestream.streamFilesInit" -}}
- name: stream-files
  image: {{ include "tradestream.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["python", "-m", "streaming.supervisor.stream_files", "/etc/tradestream/stream-files"]
  env:
    - name: TRADESTREAM_STREAM_FILES
      value: "{}"
  resources:
    {{- toYaml .Values.streams.filesResources | nindent 4 }}
  securityContext:
    {{- include "tradestream.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    - name: stream-files
      mountPath: /etc/tradestream/stream-files
{{- end -}}

{{- define "tradestream.streamObjectName" -}}
{{- printf "%s-%s" (include "tradestream.fullname" .) (.stream | replace "_" "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A long-running process stream (ingestion; the executor is built from the same template) as a Deployment.
dict: root, stream, argv */}}
{{- define "tradestream.streamDeployment" -}}
{{- $root := .root -}}
{{- $ingest := $root.Values.dataIngestion -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "tradestream.streamObjectName" (dict "stream" .stream) }}
  labels:
    {{- include "tradestream.labels" (dict "root" $root "component" "stream") | nindent 4 }}
    tradestream.io/stream: {{ .stream }}
spec:
  replicas: 1
  # Never two instances of one stream, not even during a rollout.
  strategy:
    type: Recreate
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "tradestream.selectorLabels" (dict "root" $root "component" "stream") | nindent 6 }}
      tradestream.io/stream: {{ .stream }}
  template:
    metadata:
      labels:
        {{- include "tradestream.labels" (dict "root" $root "component" "stream") | nindent 8 }}
        tradestream.io/stream: {{ .stream }}
        {{- include "tradestream.kafkaClientLabel" $root | nindent 8 }}
      annotations:
        checksum/env: {{ include (print $root.Template.BasePath "/configmap-env.yaml") $root | sha256sum }}
    spec:
      serviceAccountName: {{ include "tradestream.streamServiceAccount" $root }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        {{- include "tradestream.podSecurityContext" $root | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ingest.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ingest.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ingest.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      initContainers:
        {{- include "tradestream.streamFilesInit" $root | nindent 8 }}
      containers:
        - name: stream
          image: {{ include "tradestream.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .argv | nindent 12 }}
          envFrom:
            {{- include "tradestream.envFrom" (dict "root" $root "component" .kafkaUser) | nindent 12 }}
          env:
            - name: HOME
              value: /tmp
            # stream pods do not mount Dagster's data volume
            - name: TRADESTREAM_HOME
              value: /tmp/tradestream
            - name: PYTHONUNBUFFERED
              value: "1"
            - name: TRADESTREAM_INGEST_METRICS_PORT
              value: {{ $ingest.metricsPort | quote }}
            # the executor (execution_stream, built from this template too) serves its metrics there as well
            - name: TRADESTREAM_EXECUTION_METRICS_PORT
              value: {{ $ingest.metricsPort | quote }}
          ports:
            - name: metrics
              containerPort: {{ $ingest.metricsPort }}
          # The metrics endpoint is served by the stream's process itself (ingestion or executor): it
          # answers while the process is alive.
          readinessProbe:
            httpGet:
              path: /metrics
              port: metrics
            periodSeconds: 15
            timeoutSeconds: 5
          livenessProbe:
            httpGet:
              path: /metrics
              port: metrics
            initialDelaySeconds: 30
            periodSeconds: 30
            timeoutSeconds: 10
            failureThreshold: 4
          resources:
            {{- toYaml $ingest.resources | nindent 12 }}
          securityContext:
            {{- include "tradestream.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: stream-files
              mountPath: /etc/tradestream/stream-files
              readOnly: true
            {{- include "tradestream.kafkaCaMount" $root | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        - name: stream-files
          emptyDir:
            medium: Memory
            sizeLimit: 2Mi
        {{- include "tradestream.kafkaCaVolume" $root | nindent 8 }}
{{- end -}}

{{/* A Beam pipeline's submitter as a Job; the supervisor fills in name, labels and args. */}}
{{- define "tradestream.streamJob" -}}
{{- $root := . -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "tradestream.fullname" $root }}-beam-stream
  labels:
    {{- include "tradestream.labels" (dict "root" $root "component" "stream") | nindent 4 }}
spec:
  # The stream supervisor decides about restarts: a blind retry could submit a second copy
  # of a pipeline that still runs on Flink.
  backoffLimit: 0
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        {{- include "tradestream.labels" (dict "root" $root "component" "stream") | nindent 8 }}
        {{- include "tradestream.kafkaClientLabel" $root | nindent 8 }}
        {{- include "tradestream.flinkClientLabel" $root | nindent 8 }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ include "tradestream.streamServiceAccount" $root }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        {{- include "tradestream.podSecurityContext" $root | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      initContainers:
        {{- include "tradestream.streamFilesInit" $root | nindent 8 }}
      containers:
        - name: stream
          image: {{ include "tradestream.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["python", "-m", "streaming.candles", "--help"]
          # the supervisor adds the Secret of the stream's Kafka user (backend.yaml kafkaUserSecretPrefix)
          envFrom:
            {{- include "tradestream.envFrom" (dict "root" $root) | nindent 12 }}
          env:
            - name: HOME
              value: /tmp
            - name: TRADESTREAM_HOME
              value: /tmp/tradestream
            - name: PYTHONUNBUFFERED
              value: "1"
          resources:
            {{- toYaml $root.Values.pipeline.submitterResources | nindent 12 }}
          securityContext:
            {{- include "tradestream.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: stream-files
              mountPath: /etc/tradestream/stream-files
              readOnly: true
            {{- include "tradestream.kafkaCaMount" $root | nindent 12 }}
            # checkpoints and savepoints: the submitter finds the newest to resume from (and in dry
            # mode Beam's embedded Flink writes them here)
            {{- include "tradestream.flinkStateMount" $root | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 4Gi
        - name: stream-files
          emptyDir:
            medium: Memory
            sizeLimit: 2Mi
        {{- include "tradestream.kafkaCaVolume" $root | nindent 8 }}
        {{- include "tradestream.flinkStateVolume" $root | nindent 8 }}
{{- end -}}

{{/* Where the supervisor's Kubernetes backend sends things. */}}
{{- define "tradestream.streamBackend" -}}
namespace: {{ .Release.Namespace }}
objectPrefix: {{ include "tradestream.fullname" . }}
flinkMaster: {{ include "tradestream.flinkMaster" . | quote }}
# a stream's Kafka credentials: the Secret <prefix><its component> (streaming/kafka/access.py)
kafkaUserSecretPrefix: {{ include "tradestream.kafkaUserSecretPrefix" . | quote }}
# savepoints before an upgrade go to <flinkStateDir>/savepoints/<job>
flinkStateDir: {{ include "tradestream.flinkStateDir" . | quote }}
# the streams that run as the Deployments the chart renders (rbac.yaml names them)
processStreams: {{ .Values.streams.processStreams | toJson }}
{{- if eq .Values.pipeline.runMode "wet" }}
flinkRestUrl: {{ printf "http://%s" (include "tradestream.flinkMaster" .) | quote }}
workerPool: {{ printf "localhost:%v" .Values.pipeline.flink.workerPool.port | quote }}
{{- else }}
flinkRestUrl: ""
workerPool: ""
{{- end }}
{{- if and (eq .Values.execution.mode "live") .Values.execution.cdpKeySecret }}
# Secrets only one stream's pod reads: the executor's CDP API key (live orders).
streamSecrets:
  execution_stream: {{ .Values.execution.cdpKeySecret | quote }}
{{- end }}
{{- end -}}
