{{/*
Pod specs of the streams. The chart renders the ingestion Deployment from
`tradestream.streamDeployment`, and puts both templates into the ConfigMap
tradestream-stream-templates, from which the stream supervisor's Kubernetes backend
(streaming/supervisor/k8s.py) builds the objects it creates: security contexts, resources,
probes and the NetworkPolicy labels live here, once.
*/}}

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
      containers:
        - name: stream
          image: {{ include "tradestream.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .argv | nindent 12 }}
          envFrom:
            {{- include "tradestream.envFrom" $root | nindent 12 }}
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
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
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
      containers:
        - name: stream
          image: {{ include "tradestream.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["python", "-m", "streaming.candles", "--help"]
          envFrom:
            {{- include "tradestream.envFrom" $root | nindent 12 }}
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
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 4Gi
{{- end -}}

{{/* Where the supervisor's Kubernetes backend sends things. */}}
{{- define "tradestream.streamBackend" -}}
namespace: {{ .Release.Namespace }}
objectPrefix: {{ include "tradestream.fullname" . }}
flinkMaster: {{ include "tradestream.flinkMaster" . | quote }}
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
