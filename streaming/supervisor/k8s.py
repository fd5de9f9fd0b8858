"""Streams as Kubernetes objects, for Helm installs (helm/).

* A ``process`` stream (ingestion) is a Deployment ``<prefix>-<stream>``, created or
  replaced in place; the chart renders the ingestion Deployment under the same name, so the
  supervisor adopts it.
* A ``beam`` stream is a Job running the pipeline CLI from TradeStream's image. With the
  chart's ``pipeline.runMode=wet`` the CLI submits to the in-cluster Flink session cluster
  (``--flink-master <jobmanager>:8081``) and the pipeline's Python code runs in the Beam
  worker pool beside each TaskManager (EXTERNAL environment, ``TRADESTREAM_FLINK_WORKER_POOL``);
  with ``dry`` it runs on Beam's embedded Flink inside the Job's pod.

Pod specs are not written here: the chart puts its templates (security contexts,
resources, probes, the labels the NetworkPolicies look for) and the cluster's addresses
into the ConfigMap ``tradestream-stream-templates``; this backend fills in the stream's
name, command, environment, image, Kafka user (the Secret ``<prefix><user>`` with its SCRAM
credentials) and config hash. Files named on the command line (the live strategy config)
travel in the pod spec and are written by the pod's init container
(``streaming.supervisor.stream_files``), because stream pods do not mount Dagster's data
volume and the supervisor may not write ConfigMaps.

A Beam stream whose config changed (a new image after ``helm upgrade``, new live
parameters) is stopped with a savepoint into ``<state root>/savepoints/<job>`` before its
new submitter starts, which resumes from it (``streaming.jobs.checkpoints``); when the
savepoint cannot be taken the job is cancelled and resumes from its retained checkpoint.

The service account needs (helm/templates/rbac.yaml): get/update/patch on the process
streams' Deployments (by name), Jobs, reading Pods and their logs, and reading the
templates' ConfigMap (by name).

Kubernetes is reached through :class:`KubeApi`, a handful of dict-in, dict-out calls;
tests hand the backend an in-memory stand-in.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import urllib.error
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from streaming.supervisor.base import StreamHandle, StreamSpec, StreamStatus
from streaming.supervisor.stream_files import ENV as FILES_ENV
from tradestream.runtime.flink_rest import FlinkRestClient, active_jobs

log = logging.getLogger(__name__)

STREAM_LABEL = "tradestream.io/stream"
HASH_ANNOTATION = "tradestream.io/config-hash"
ARGV_ANNOTATION = "tradestream.io/argv"
CONTAINER = "stream"
FILES_CONTAINER = "stream-files"  # the init container writing the stream's files
FILES_MOUNT = "/etc/tradestream/stream-files"
MAX_SHIPPED_FILE_BYTES = 512 * 1024  # the pod spec carries them; an object holds at most ~1.5 MiB
SAVEPOINT_TIMEOUT_S = 300.0
TEMPLATES_CONFIG_MAP = "tradestream-stream-templates"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# Waiting reasons after which a pod will not come up by itself.
FAILED_WAITING_REASONS = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                          "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


class StreamTemplateError(ValueError):
    """The chart's stream templates are missing or malformed; the message says which and what to do."""


# ------------------------------------------------------------------ what the chart provides


@dataclass(frozen=True)
class StreamTemplates:
    """The ConfigMap ``tradestream-stream-templates`` rendered by the chart."""

    namespace: str
    object_prefix: str
    flink_master: str
    flink_rest_url: str | None
    worker_pool: str | None
    deployment: dict[str, Any]
    job: dict[str, Any]
    #: Secrets only one stream's pod reads, by stream name (the executor's CDP API key in live mode).
    stream_secrets: dict[str, str] = field(default_factory=dict)
    #: name of a stream's Kafka user Secret = prefix + its user (``StreamSpec.kafka_user``); None: no Secrets
    kafka_user_secret_prefix: str | None = None
    #: the Flink state root (checkpoints and savepoints), for savepoints before an upgrade
    flink_state_dir: str | None = None
    #: streams that run as Deployments the chart renders (the supervisor updates and scales them, by name)
    process_streams: tuple[str, ...] = ("trades_stream",)

    @classmethod
    def from_config_map_data(cls, data: dict[str, str], source: str = TEMPLATES_CONFIG_MAP) -> StreamTemplates:
        def load(key: str) -> dict[str, Any]:
            if key not in (data or {}):
                raise StreamTemplateError(f"ConfigMap {source} has no key {key!r}; it is rendered by the TradeStream "
                                          "Helm chart (helm/templates/stream-templates.yaml): upgrade the release")
            try:
                value = yaml.safe_load(data[key])
            except yaml.YAMLError as exc:
                raise StreamTemplateError(f"ConfigMap {source} key {key!r} is not YAML: {exc}") from exc
            if not isinstance(value, dict):
                raise StreamTemplateError(f"ConfigMap {source} key {key!r} must hold a mapping, got {value!r}")
            return value

        backend = load("backend.yaml")
        deployment, job = load("process-deployment.yaml"), load("beam-job.yaml")
        for key, obj, kind in (("process-deployment.yaml", deployment, "Deployment"), ("beam-job.yaml", job, "Job")):
            if obj.get("kind") != kind:
                raise StreamTemplateError(f"ConfigMap {source} key {key!r} holds a {obj.get('kind')}, expected {kind}")
            pod = obj["spec"]["template"]["spec"]
            names = [c.get("name") for c in pod.get("containers", [])]
            if CONTAINER not in names:
                raise StreamTemplateError(f"ConfigMap {source} key {key!r}: no container named {CONTAINER!r} "
                                          f"(found {names})")
            init_names = [c.get("name") for c in pod.get("initContainers", [])]
            if FILES_CONTAINER not in init_names:
                raise StreamTemplateError(f"ConfigMap {source} key {key!r}: no init container named "
                                          f"{FILES_CONTAINER!r} (found {init_names}); upgrade the release")
        missing = [k for k in ("namespace", "objectPrefix", "flinkMaster") if not backend.get(k)]
        if missing:
            raise StreamTemplateError(f"ConfigMap {source} key 'backend.yaml' lacks {missing}")
        return cls(namespace=backend["namespace"], object_prefix=backend["objectPrefix"],
                   flink_master=backend["flinkMaster"], flink_rest_url=backend.get("flinkRestUrl") or None,
                   worker_pool=backend.get("workerPool") or None, deployment=deployment, job=job,
                   stream_secrets={str(k): str(v) for k, v in (backend.get("streamSecrets") or {}).items() if v},
                   kafka_user_secret_prefix=backend.get("kafkaUserSecretPrefix") or None,
                   flink_state_dir=backend.get("flinkStateDir") or None,
                   process_streams=tuple(backend.get("processStreams") or ("trades_stream",)))


# ------------------------------------------------------------------ the API, dicts in and out


class KubeApi(Protocol):
    """The calls the backend makes. Objects are the API's JSON (camelCase dicts)."""

    def get(self, kind: str, namespace: str, name: str) -> dict | None: ...
    def list(self, kind: str, namespace: str, label_selector: str) -> list[dict]: ...
    def create(self, obj: dict) -> dict: ...
    def replace(self, obj: dict) -> dict: ...
    def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict: ...
    def delete(self, kind: str, namespace: str, name: str) -> bool: ...
    def pod_log(self, namespace: str, name: str, tail_lines: int) -> str: ...


class KubernetesClientApi:
    """:class:`KubeApi` over the official ``kubernetes`` client (raw JSON, no model conversion)."""

    def __init__(self, api_client: Any = None):
        from kubernetes import client

        self._client = client
        api_client = api_client or client.ApiClient()
        self._apps = client.AppsV1Api(api_client)
        self._batch = client.BatchV1Api(api_client)
        self._core = client.CoreV1Api(api_client)

    def _calls(self, kind: str) -> tuple[Any, str]:
        apis = {"Deployment": (self._apps, "deployment"), "Job": (self._batch, "job"),
                "ConfigMap": (self._core, "config_map"), "Pod": (self._core, "pod")}
        if kind not in apis:
            raise ValueError(f"unsupported kind {kind!r}; the stream supervisor handles {sorted(apis)}")
        return apis[kind]

    @staticmethod
    def _json(response: Any) -> dict:
        return json.loads(response.data)

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        api, noun = self._calls(kind)
        try:
            return self._json(getattr(api, f"read_namespaced_{noun}")(name, namespace, _preload_content=False))
        except self._client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str, label_selector: str) -> list[dict]:
        api, noun = self._calls(kind)
        response = getattr(api, f"list_namespaced_{noun}")(namespace, label_selector=label_selector,
                                                           _preload_content=False)
        return self._json(response).get("items", [])

    def create(self, obj: dict) -> dict:
        api, noun = self._calls(obj["kind"])
        return self._json(getattr(api, f"create_namespaced_{noun}")(obj["metadata"]["namespace"], obj,
                                                                    _preload_content=False))

    def replace(self, obj: dict) -> dict:
        api, noun = self._calls(obj["kind"])
        meta = obj["metadata"]
        return self._json(getattr(api, f"replace_namespaced_{noun}")(meta["name"], meta["namespace"], obj,
                                                                     _preload_content=False))

    def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        api, noun = self._calls(kind)
        # a dict body would otherwise be sent as a JSON Patch (see ApiClient.select_header_content_type)
        return self._json(getattr(api, f"patch_namespaced_{noun}")(
            name, namespace, patch, _content_type="application/merge-patch+json", _preload_content=False))

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        api, noun = self._calls(kind)
        try:
            getattr(api, f"delete_namespaced_{noun}")(name, namespace, propagation_policy="Background",
                                                      _preload_content=False)
            return True
        except self._client.ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def pod_log(self, namespace: str, name: str, tail_lines: int) -> str:
        response = self._core.read_namespaced_pod_log(name, namespace, tail_lines=tail_lines, container=CONTAINER,
                                                      _preload_content=False)
        return response.data.decode(errors="replace")


# ------------------------------------------------------------------ the backend


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class KubernetesBackend:
    """:class:`~streaming.supervisor.base.SupervisorBackend` on Kubernetes objects."""

    def __init__(self, templates: StreamTemplates, api: KubeApi, flink: FlinkRestClient | None = None):
        self.templates = templates
        self.api = api
        self.flink = flink if flink is not None else (
            FlinkRestClient(templates.flink_rest_url) if templates.flink_rest_url else None)
        self.namespace = templates.namespace

    @classmethod
    def in_cluster(cls, namespace: str | None = None, templates_config_map: str | None = None) -> KubernetesBackend:
        """The backend of the Helm release this pod belongs to (Dagster's code server and run pods).

        ``namespace`` defaults to TRADESTREAM_K8S_NAMESPACE or the pod's own namespace; the
        templates' ConfigMap to TRADESTREAM_K8S_STREAM_TEMPLATES (set by the chart).
        """
        from kubernetes import config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            # outside a cluster: kubectl's current context (KUBECONFIG read now, not at import)
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
        namespace = namespace or os.environ.get("TRADESTREAM_K8S_NAMESPACE") or (
            SERVICE_ACCOUNT_NAMESPACE.read_text().strip() if SERVICE_ACCOUNT_NAMESPACE.is_file() else None)
        if not namespace:
            raise StreamTemplateError("cannot tell the namespace of the TradeStream release: not in a pod; "
                                      "set TRADESTREAM_K8S_NAMESPACE")
        name = templates_config_map or os.environ.get("TRADESTREAM_K8S_STREAM_TEMPLATES", TEMPLATES_CONFIG_MAP)
        api = KubernetesClientApi()
        config_map = api.get("ConfigMap", namespace, name)
        if config_map is None:
            raise StreamTemplateError(f"ConfigMap {name} not found in namespace {namespace}; install or upgrade the "
                                      "TradeStream Helm chart there, or set TRADESTREAM_K8S_STREAM_TEMPLATES")
        return cls(StreamTemplates.from_config_map_data(config_map.get("data", {}), f"{namespace}/{name}"), api)

    # ---------------------------------------------------------------- names

    def object_name(self, stream: str) -> str:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9_-]*[a-z0-9])?", stream):
            raise ValueError(f"stream name {stream!r} must be lowercase letters, digits, '_' or '-' "
                             "(it becomes a Kubernetes object name)")
        name = f"{self.templates.object_prefix}-{stream.replace('_', '-')}"
        if len(name) > 52:  # room for the Job's and pods' generated suffixes
            raise ValueError(f"stream name {stream!r} is too long for a Kubernetes name ({name}); shorten it")
        return name

    def _selector(self, stream: str) -> str:
        return f"{STREAM_LABEL}={stream}"

    # ---------------------------------------------------------------- building objects

    def _ship_files(self, spec: StreamSpec) -> tuple[list[str], dict[str, str]]:
        """argv with local files replaced by their path in the pod, and the files by that name."""
        argv, files = [], {}
        for index, arg in enumerate(spec.argv):
            path = Path(arg)
            if index == 0 or arg.startswith("-") or os.sep not in arg or not path.is_file():
                argv.append(arg)
                continue
            size = path.stat().st_size
            if size > MAX_SHIPPED_FILE_BYTES:
                raise ValueError(f"{spec.name}: {arg} is {size} bytes; files passed to a stream on Kubernetes travel "
                                 f"in its pod spec (at most {MAX_SHIPPED_FILE_BYTES}); put it on a volume instead")
            key = f"{index}-{re.sub(r'[^-._a-zA-Z0-9]', '_', path.name)}"
            files[key] = path.read_text()
            argv.append(f"{FILES_MOUNT}/{key}")
        return argv, files

    def _fill_pod(self, template: dict, spec: StreamSpec, argv: list[str], files: dict[str, str],
                  extra_env: dict[str, str]) -> None:
        metadata = template["metadata"]
        metadata.setdefault("labels", {})[STREAM_LABEL] = spec.name
        # a new config hash alone (e.g. another live strategy file) must restart the pod
        metadata.setdefault("annotations", {})[HASH_ANNOTATION] = spec.config_hash
        pod = template["spec"]
        container = next(c for c in pod["containers"] if c["name"] == CONTAINER)
        init = next(c for c in pod.get("initContainers", []) if c["name"] == FILES_CONTAINER)
        container["args"] = argv
        image = spec.config.get("image")
        if image:
            container["image"] = init["image"] = image
        env = {e["name"]: e for e in container.get("env", [])}
        for key, value in {**spec.env, **extra_env}.items():
            env[key] = {"name": key, "value": str(value)}
        container["env"] = list(env.values())
        init["env"] = [e for e in init.get("env", []) if e["name"] != FILES_ENV] + [
            {"name": FILES_ENV, "value": json.dumps(files, sort_keys=True)}]
        if spec.kafka_user and self.templates.kafka_user_secret_prefix:
            secret = f"{self.templates.kafka_user_secret_prefix}{spec.kafka_user}"
            env_from = [e for e in container.get("envFrom", []) if "secretRef" not in e]
            container["envFrom"] = [*env_from, {"secretRef": {"name": secret}}]

    def _stamp(self, obj: dict, spec: StreamSpec, argv: list[str]) -> None:
        metadata = obj["metadata"]
        metadata["namespace"] = self.namespace
        metadata.setdefault("labels", {})[STREAM_LABEL] = spec.name
        annotations = metadata.setdefault("annotations", {})
        annotations[HASH_ANNOTATION] = spec.config_hash
        annotations[ARGV_ANNOTATION] = json.dumps(list(spec.argv))

    def build_deployment(self, spec: StreamSpec) -> dict:
        """The Deployment of a process stream."""
        name = self.object_name(spec.name)
        deployment = copy.deepcopy(self.templates.deployment)
        argv, files = self._ship_files(spec)
        deployment["metadata"]["name"] = name
        self._stamp(deployment, spec, argv)
        deployment["spec"]["replicas"] = 1
        deployment["spec"]["selector"].setdefault("matchLabels", {})[STREAM_LABEL] = spec.name
        self._fill_pod(deployment["spec"]["template"], spec, argv, files, {})
        secret = self.templates.stream_secrets.get(spec.name)
        if secret:
            container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == CONTAINER)
            container.setdefault("envFrom", []).append({"secretRef": {"name": secret}})
        return deployment

    def build_job(self, spec: StreamSpec) -> dict:
        """The Job that runs a Beam stream's pipeline module."""
        name = self.object_name(spec.name)
        job = copy.deepcopy(self.templates.job)
        argv, files = self._ship_files(spec)
        metadata = job["metadata"]
        metadata.pop("name", None)
        # several Jobs of one stream may exist for a moment (the old one still terminating)
        metadata["generateName"] = f"{name}-"
        self._stamp(job, spec, argv)
        extra_env = {"TRADESTREAM_FLINK_MASTER": self.templates.flink_master}
        if self.templates.worker_pool:
            extra_env["TRADESTREAM_FLINK_WORKER_POOL"] = self.templates.worker_pool
        if self.templates.flink_master not in ("[local]", "[auto]"):
            argv = _with_option(argv, "--flink-master", self.templates.flink_master)
        self._fill_pod(job["spec"]["template"], spec, argv, files, extra_env)
        return job

    # ---------------------------------------------------------------- SupervisorBackend

    def ensure(self, spec: StreamSpec) -> StreamHandle:
        if spec.kind == "process":
            self.object_name(spec.name)  # a name that cannot name an object fails first, saying so
            if spec.name not in self.templates.process_streams:
                raise StreamTemplateError(
                    f"stream {spec.name} runs as a Deployment, but the chart renders only those of "
                    f"{list(self.templates.process_streams)}; add {spec.name} to the chart's streams.processStreams")
            return self._ensure_deployment(spec)
        if spec.kind == "beam":
            return self._ensure_job(spec)
        raise ValueError(f"stream {spec.name}: kind {spec.kind!r} is not 'process' or 'beam'")

    def status(self, name: str) -> StreamStatus:
        deployment = self._deployment(name)
        if deployment is not None:
            return self._deployment_status(name, deployment)
        job = self._newest_job(name)
        if job is not None:
            return self._job_status(name, job)
        return StreamStatus(name=name, alive=False, detail="never started")

    def _deployment(self, name: str) -> dict | None:
        """A process stream's Deployment (only those are looked up: the supervisor may read no other)."""
        if name not in self.templates.process_streams:
            return None
        return self.api.get("Deployment", self.namespace, self.object_name(name))

    def stop(self, name: str) -> bool:
        stopped = False
        deployment = self._deployment(name)
        if deployment is not None and deployment["spec"].get("replicas", 1) > 0:
            # scaled to zero, not deleted: the Helm release keeps owning the object
            self.api.patch("Deployment", self.namespace, deployment["metadata"]["name"], {"spec": {"replicas": 0}})
            stopped = True
        for job in self.api.list("Job", self.namespace, self._selector(name)):
            stopped = self._job_active(job) or stopped
            self.api.delete("Job", self.namespace, job["metadata"]["name"])
        stopped = bool(self._cancel_flink_jobs(name)) or stopped
        return stopped

    # ---------------------------------------------------------------- process streams

    def _ensure_deployment(self, spec: StreamSpec) -> StreamHandle:
        desired = self.build_deployment(spec)
        name = desired["metadata"]["name"]
        location = f"deployment/{self.namespace}/{name}"
        current = self.api.get("Deployment", self.namespace, name)
        current_hash = current and current["metadata"].get("annotations", {}).get(HASH_ANNOTATION)
        if current is not None and current_hash == spec.config_hash and current["spec"].get("replicas", 1) > 0:
            return StreamHandle(spec.name, spec.config_hash, started=False, location=location)
        if current is None:
            self.api.create(desired)
            replaced = False
        else:
            # keep what others put on the object (Helm's ownership labels and annotations)
            metadata = desired["metadata"]
            metadata["labels"] = {**current["metadata"].get("labels", {}), **metadata["labels"]}
            metadata["annotations"] = {**current["metadata"].get("annotations", {}), **metadata["annotations"]}
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.api.replace(desired)
            replaced = current_hash is not None and current_hash != spec.config_hash \
                and current["spec"].get("replicas", 1) > 0
        log.info("stream %s: deployment %s %s with config %s", spec.name, name,
                 "created" if current is None else "updated", spec.config_hash)
        return StreamHandle(spec.name, spec.config_hash, started=True, location=location, replaced=replaced)

    def _deployment_status(self, name: str, deployment: dict) -> StreamStatus:
        metadata = deployment["metadata"]
        location = f"deployment/{self.namespace}/{metadata['name']}"
        status = StreamStatus(name=name, alive=False, config_hash=metadata.get("annotations", {}).get(HASH_ANNOTATION),
                              location=location)
        if deployment["spec"].get("replicas", 1) == 0:
            status.detail = "stopped (scaled to 0)"
            return status
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
        stuck = _deployment_failure(deployment)
        pods = [p for p in self.api.list("Pod", self.namespace, selector) if not p["metadata"].get("deletionTimestamp")]
        if not pods:
            # the Deployment controller is creating the pod, unless it reported that it cannot
            status.alive = stuck is None
            status.detail = stuck or "no pod yet"
            return status
        pod = max(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))
        status.started_at = _parse_time(pod.get("status", {}).get("startTime"))
        failure = _pod_failure(pod) or stuck
        status.alive = failure is None
        ready = deployment.get("status", {}).get("readyReplicas", 0) >= 1
        status.detail = failure or ("ready" if ready else "starting")
        if failure:
            status.exit_code = _exit_code(pod)
            status.last_log_lines = self._log_tail(pod)
        return status

    # ---------------------------------------------------------------- Beam streams

    def _newest_job(self, name: str) -> dict | None:
        jobs = self.api.list("Job", self.namespace, self._selector(name))
        return max(jobs, key=lambda j: j["metadata"].get("creationTimestamp", "")) if jobs else None

    @staticmethod
    def _job_active(job: dict) -> bool:
        status = job.get("status", {})
        finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                       for c in status.get("conditions", []))
        return not finished and not status.get("succeeded") and not status.get("failed")

    def _ensure_job(self, spec: StreamSpec) -> StreamHandle:
        current = self._newest_job(spec.name)
        replaced = False
        if current is not None:
            current_status = self._job_status(spec.name, current)
            if current_status.alive and current_status.config_hash == spec.config_hash:
                return StreamHandle(spec.name, spec.config_hash, started=False,
                                    location=current_status.location or "", ui_url=self.templates.flink_rest_url)
            replaced = current_status.alive
            if replaced:
                # an upgrade or new parameters: keep the state exactly as it is now
                self._stop_with_savepoint(spec.name)
        # One instance per stream: the old submitter and whatever it left running on Flink go first.
        self.stop(spec.name)
        job = self.build_job(spec)
        created = self.api.create(job)
        location = f"job/{self.namespace}/{created['metadata']['name']}"
        log.info("stream %s: %s submits %s", spec.name, location, " ".join(job["spec"]["template"]["spec"]
                                                                          ["containers"][0].get("args", [])))
        return StreamHandle(spec.name, spec.config_hash, started=True, location=location,
                            ui_url=self.templates.flink_rest_url, replaced=replaced)

    def _job_status(self, name: str, job: dict) -> StreamStatus:
        metadata = job["metadata"]
        status = StreamStatus(name=name, alive=False, config_hash=metadata.get("annotations", {}).get(HASH_ANNOTATION),
                              location=f"job/{self.namespace}/{metadata['name']}", ui_url=self.templates.flink_rest_url,
                              started_at=_parse_time(job.get("status", {}).get("startTime")))
        pods = self.api.list("Pod", self.namespace, f"job-name={metadata['name']}")
        pod = max(pods, key=lambda p: p["metadata"].get("creationTimestamp", "")) if pods else None
        if not self._job_active(job):
            succeeded = job.get("status", {}).get("succeeded")
            status.detail = "pipeline finished" if succeeded else "pipeline submitter failed"
            if pod is not None:
                status.exit_code = _exit_code(pod)
                status.last_log_lines = self._log_tail(pod)
            return status
        failure = _pod_failure(pod) if pod is not None else None
        status.alive = failure is None
        running = pod is not None and pod.get("status", {}).get("phase") == "Running"
        status.detail = failure or ("running" if running else "starting")
        if failure and pod is not None:
            status.last_log_lines = self._log_tail(pod)
        return status

    def _flink_jobs(self, name: str) -> list[dict]:
        """The stream's active jobs on the session cluster (matched by name, as the pipelines name them)."""
        if self.flink is None:
            return []
        hint = name.removesuffix("_stream").replace("_", "-")
        return [j for j in active_jobs(self.flink.jobs()) if hint in j.get("name", "").lower().replace("_", "-")]

    def _stop_with_savepoint(self, name: str) -> list[str]:
        """Stop the stream's Flink jobs with a savepoint each into ``<state root>/savepoints/<job name>``;
        the savepoints' paths. A job that cannot take one is left to ``stop`` (cancel: its retained
        checkpoint remains)."""
        if self.flink is None or not self.templates.flink_state_dir:
            return []
        try:
            jobs = self._flink_jobs(name)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log.warning("stream %s: Flink's REST API at %s is unreachable, no savepoint: %s", name,
                        self.templates.flink_rest_url, exc)
            return []
        taken = []
        for job in jobs:
            target = f"{self.templates.flink_state_dir.rstrip('/')}/savepoints/{job.get('name', name)}"
            try:
                location = self.flink.stop_with_savepoint(job["jid"], target, timeout_s=SAVEPOINT_TIMEOUT_S)
            except (OSError, urllib.error.URLError, ValueError, RuntimeError, KeyError) as exc:
                log.warning("stream %s: stopping Flink job %s with a savepoint failed (%s); it is cancelled and its "
                            "successor resumes from the newest retained checkpoint", name, job["jid"], exc)
                continue
            log.info("stream %s: Flink job %s stopped with savepoint %s", name, job["jid"], location)
            taken.append(location)
        return taken

    def _cancel_flink_jobs(self, name: str) -> list[str]:
        """Cancel the stream's jobs on the session cluster (matched by name, as the pipelines name them)."""
        if self.flink is None:
            return []
        try:
            jobs = self._flink_jobs(name)
            for job in jobs:
                log.info("stream %s: cancelling Flink job %s (%s)", name, job["jid"], job.get("name"))
                self.flink.cancel(job["jid"])
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log.warning("stream %s: could not reach Flink's REST API at %s to cancel its jobs: %s", name,
                        self.templates.flink_rest_url, exc)
            return []
        return [j["jid"] for j in jobs]

    # ---------------------------------------------------------------- helpers

    def _log_tail(self, pod: dict, lines: int = 20) -> list[str]:
        try:
            return self.api.pod_log(self.namespace, pod["metadata"]["name"], lines).splitlines()[-lines:]
        except Exception as exc:  # noqa: BLE001 - logs are a diagnostic extra; the status stands without them
            return [f"(no log: {exc})"]


def _with_option(argv: list[str], option: str, value: str) -> list[str]:
    """argv with ``option value`` set once (replacing an existing value)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == option:
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return out + [option, value]


def _pod_failure(pod: dict) -> str | None:
    """Why a pod will not run by itself any more, or None while it runs or is still coming up."""
    status = pod.get("status", {})
    if status.get("phase") in ("Failed", "Succeeded"):
        return f"pod {pod['metadata']['name']} {status['phase'].lower()}"
    for container in status.get("containerStatuses", []) + status.get("initContainerStatuses", []):
        waiting = container.get("state", {}).get("waiting") or {}
        if waiting.get("reason") in FAILED_WAITING_REASONS:
            message = waiting.get("message", "")
            return f"container {container['name']}: {waiting['reason']}" + (f" ({message})" if message else "")
    return None


def _deployment_failure(deployment: dict) -> str | None:
    for condition in deployment.get("status", {}).get("conditions", []):
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return f"cannot create its pod: {condition.get('message', condition.get('reason', ''))}"
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return f"rollout stuck: {condition.get('message', '')}"
    return None


def _exit_code(pod: dict) -> int | None:
    for container in pod.get("status", {}).get("containerStatuses", []):
        if container.get("name") != CONTAINER:
            continue
        state = container.get("state", {}).get("terminated") or container.get("lastState", {}).get("terminated")
        if state:
            return state.get("exitCode")
    return None

