"""The stream supervisor's Kubernetes backend, against the objects it builds.

No cluster runs here. The backend gets the templates the real chart renders (helm template)
and an in-memory stand-in for the Kubernetes API; every object it creates is validated
strictly against the Kubernetes schemas. The adapter over the official client is checked
on the wire, against the same stand-in served over HTTP.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import kubernetes
import kubernetes_validate
import pytest

from streaming.supervisor.base import StreamSpec, SupervisorBackend
from streaming.supervisor.k8s import (
    FILES_MOUNT,
    HASH_ANNOTATION,
    STREAM_LABEL,
    KubernetesBackend,
    KubernetesClientApi,
    StreamTemplateError,
    StreamTemplates,
)
from tests.helm.chart import KUBE_VERSIONS, NAMESPACE, Helm, find

JOBMANAGER = f"tradestream-flink-jobmanager.{NAMESPACE}.svc.cluster.local:8081"
KAFKA_ENV = {"TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": f"tradestream-kafka-bootstrap.{NAMESPACE}.svc.cluster.local:9092",
             "TRADESTREAM_KAFKA_TRADES_TOPIC": "trades"}


# ------------------------------------------------------------------ an in-memory API server


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class FakeCluster:
    """The API server's bookkeeping the backend relies on: names, uids, resource versions,
    generateName, label selectors, JSON merge patches. No controllers: tests set status."""

    def __init__(self):
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.logs: dict[str, str] = {}
        self._version = itertools.count(1)
        self._clock = itertools.count()

    def _stamp_new(self, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        if "name" not in meta:
            meta["name"] = meta.pop("generateName") + uuid.uuid4().hex[:5]
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = str(next(self._version))
        created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._clock))
        meta["creationTimestamp"] = created.isoformat().replace("+00:00", "Z")
        return obj

    # KubeApi
    def get(self, kind, namespace, name):
        obj = self.objects.get((kind, namespace, name))
        return copy.deepcopy(obj) if obj else None

    def list(self, kind, namespace, label_selector):
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)
        return [copy.deepcopy(o) for (k, ns, _), o in sorted(self.objects.items())
                if k == kind and ns == namespace
                and all(o["metadata"].get("labels", {}).get(key) == value for key, value in wanted.items())]

    def create(self, obj):
        obj = self._stamp_new(obj)
        key = (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        if key in self.objects:
            raise ApiError(409, f"{key} already exists")
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def replace(self, obj):
        key = (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, f"{key} not found")
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ApiError(409, f"{key}: resourceVersion conflict")
        obj = copy.deepcopy(obj)
        obj["metadata"].update({k: current["metadata"][k] for k in ("uid", "creationTimestamp")})
        obj["metadata"]["resourceVersion"] = str(next(self._version))
        obj.setdefault("status", current.get("status", {}))
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def patch(self, kind, namespace, name, patch):
        current = self.objects.get((kind, namespace, name))
        if current is None:
            raise ApiError(404, f"{kind}/{name} not found")
        merged = merge_patch(current, patch)
        merged["metadata"]["resourceVersion"] = str(next(self._version))
        self.objects[(kind, namespace, name)] = merged
        return copy.deepcopy(merged)

    def delete(self, kind, namespace, name):
        return self.objects.pop((kind, namespace, name), None) is not None

    def pod_log(self, namespace, name, tail_lines):
        return "\n".join(self.logs.get(name, "").splitlines()[-tail_lines:])

    # test helpers
    def add_pod(self, owner_labels: dict, phase="Running", waiting_reason=None, exit_code=None, log=""):
        name = f"pod-{uuid.uuid4().hex[:6]}"
        container = {"name": "stream", "state": {"running": {}}}
        if waiting_reason:
            container["state"] = {"waiting": {"reason": waiting_reason, "message": "back-off restarting"}}
        if exit_code is not None:
            container["state"] = {"terminated": {"exitCode": exit_code}}
        pod = self.create({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": NAMESPACE, "labels": owner_labels},
                           "status": {"phase": phase, "startTime": "2026-01-01T00:00:00Z",
                                      "containerStatuses": [container]}})
        self.logs[name] = log
        return pod

    def set_status(self, kind, name, status):
        self.objects[(kind, NAMESPACE, name)]["status"] = status

    def only(self, kind):
        (obj,) = [o for (k, _, _), o in self.objects.items() if k == kind]
        return obj

    def all(self, kind):
        return [o for (k, _, _), o in self.objects.items() if k == kind]


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeFlink:
    def __init__(self, jobs=None, savepoints_fail=False):
        self.running = list(jobs or [])
        self.cancelled: list[str] = []
        self.savepoints: list[tuple[str, str]] = []  # (job id, target directory)
        self.savepoints_fail = savepoints_fail

    def jobs(self):
        return [dict(j) for j in self.running]

    def cancel(self, job_id):
        self.cancelled.append(job_id)
        for job in self.running:
            if job["jid"] == job_id:
                job["state"] = "CANCELED"

    def stop_with_savepoint(self, job_id, target_directory, timeout_s=300.0):
        if self.savepoints_fail:
            raise RuntimeError("Checkpoint Coordinator is suspending.")
        self.savepoints.append((job_id, target_directory))
        for job in self.running:
            if job["jid"] == job_id:
                job["state"] = "FINISHED"
        return f"{target_directory}/savepoint-{job_id}-0123456789ab"


# ------------------------------------------------------------------ fixtures


def rendered_templates(helm: Helm, sets: list[str] | None = None) -> tuple[StreamTemplates, list[dict]]:
    manifests = helm.template(sets=sets)
    config_map = find(manifests, "ConfigMap", "tradestream-stream-templates")
    return StreamTemplates.from_config_map_data(config_map["data"]), manifests


@pytest.fixture(scope="module")
def wet_templates(helm) -> tuple[StreamTemplates, list[dict]]:
    return rendered_templates(helm)


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def flink() -> FakeFlink:
    return FakeFlink()


@pytest.fixture
def backend(wet_templates, cluster, flink) -> KubernetesBackend:
    return KubernetesBackend(wet_templates[0], cluster, flink)


def trades_spec(mode="wet", **env) -> StreamSpec:
    return StreamSpec("trades_stream", "process",
                      ("python", "-m", "streaming.ingestion", "--mode", mode, "--products", "BTC-USD"),
                      env={**KAFKA_ENV, **env}, config={"mode": mode})


def candles_spec(**config) -> StreamSpec:
    return StreamSpec("candles_stream", "beam",
                      ("tradestream", "pipeline", "candles", "--mode", "stream", "--flink-master", JOBMANAGER),
                      env=KAFKA_ENV, config={"flink_master": JOBMANAGER, **config})


def validate(obj: dict) -> None:
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def stream_container(workload: dict) -> dict:
    return next(c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == "stream")


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


# ------------------------------------------------------------------ process streams (ingestion)


def test_backend_satisfies_the_supervisor_contract(backend):
    assert isinstance(backend, SupervisorBackend)


def test_ingestion_runs_as_a_deployment_built_from_the_charts_template(backend, cluster, wet_templates):
    handle = backend.ensure(trades_spec())
    deployment = cluster.only("Deployment")
    container = stream_container(deployment)
    template = wet_templates[0].deployment

    validate(deployment)
    assert handle.started and handle.location == f"deployment/{NAMESPACE}/tradestream-trades-stream"
    assert deployment["metadata"]["name"] == "tradestream-trades-stream"
    assert container["args"] == list(trades_spec().argv)
    assert env_of(container)["TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS"] == KAFKA_ENV["TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    assert env_of(container)["TRADESTREAM_HOME"] == "/tmp/tradestream"
    assert container["image"] == stream_container(template)["image"]
    assert container["securityContext"] == stream_container(template)["securityContext"]
    assert container["livenessProbe"] == stream_container(template)["livenessProbe"]
    assert deployment["spec"]["template"]["metadata"]["labels"]["tradestream.io/kafka-client"] == "true"
    assert deployment["spec"]["selector"]["matchLabels"][STREAM_LABEL] == "trades_stream"
    assert deployment["metadata"]["annotations"][HASH_ANNOTATION] == trades_spec().config_hash


def _executor_spec(mode: str = "live") -> StreamSpec:
    argv = ("python", "-m", "streaming.execution", "--mode", mode)
    argv += ("--live-account", "main") if mode == "live" else ()
    return StreamSpec("execution_stream", "process", argv, env=KAFKA_ENV, config={"mode": mode})


def test_only_the_executors_pod_reads_the_cdp_key_and_only_in_live_mode(helm, cluster, flink):
    templates, manifests = rendered_templates(helm, ["execution.mode=live", "execution.cdpKeySecret=cdp-key",
                                                     "execution.liveAccounts={main}"])
    env = find(manifests, "ConfigMap", "tradestream-env")["data"]
    assert (env["TRADESTREAM_EXECUTION_MODE"], env["TRADESTREAM_EXECUTION_LIVE_ACCOUNTS"]) == ("live", "main")
    backend = KubernetesBackend(templates, cluster, flink)
    backend.ensure(_executor_spec())
    backend.ensure(trades_spec())
    executor = cluster.get("Deployment", NAMESPACE, "tradestream-execution-stream")
    ingestion = cluster.get("Deployment", NAMESPACE, "tradestream-trades-stream")
    validate(executor)
    assert stream_container(executor)["args"] == list(_executor_spec().argv)
    assert {"secretRef": {"name": "cdp-key"}} in stream_container(executor)["envFrom"]
    assert all("cdp-key" not in json.dumps(ref) for ref in stream_container(ingestion)["envFrom"])
    # the liveness probe reads the executor's own metrics endpoint, on the port the template gives it
    port = env_of(stream_container(executor))["TRADESTREAM_EXECUTION_METRICS_PORT"]
    assert str(stream_container(executor)["ports"][0]["containerPort"]) == port
    # paper (the default) never mounts the key, even when a Secret is named
    paper, _ = rendered_templates(helm, ["execution.cdpKeySecret=cdp-key"])
    assert paper.stream_secrets == {}


def test_the_same_config_is_confirmed_without_a_restart(backend, cluster):
    backend.ensure(trades_spec())
    version = cluster.only("Deployment")["metadata"]["resourceVersion"]

    handle = backend.ensure(trades_spec())

    assert not handle.started
    assert cluster.only("Deployment")["metadata"]["resourceVersion"] == version


def test_the_chart_rendered_deployment_is_adopted_keeping_helms_ownership(backend, cluster, wet_templates):
    rendered = copy.deepcopy(find(wet_templates[1], "Deployment", "tradestream-trades-stream"))
    rendered["metadata"]["namespace"] = NAMESPACE
    rendered["metadata"]["annotations"] = {"meta.helm.sh/release-name": "tradestream",
                                           "meta.helm.sh/release-namespace": NAMESPACE}
    created = cluster.create(rendered)

    handle = backend.ensure(trades_spec("dry"))
    adopted = cluster.only("Deployment")

    assert handle.started and not handle.replaced  # the chart's copy had no known config
    assert stream_container(adopted)["args"][:5] == ["python", "-m", "streaming.ingestion", "--mode", "dry"]
    assert adopted["metadata"]["annotations"]["meta.helm.sh/release-name"] == "tradestream"
    assert adopted["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert adopted["metadata"]["uid"] == created["metadata"]["uid"]  # updated in place, not recreated
    validate(adopted)


def test_a_new_config_replaces_the_running_one_in_place(backend, cluster):
    backend.ensure(trades_spec("wet"))
    uid = cluster.only("Deployment")["metadata"]["uid"]

    handle = backend.ensure(trades_spec("dry"))
    deployment = cluster.only("Deployment")

    assert handle.started and handle.replaced
    assert deployment["metadata"]["uid"] == uid
    assert stream_container(deployment)["args"][4] == "dry"
    # the pod template changes with the config, so Kubernetes rolls the pod (Recreate: never two at once)
    assert deployment["spec"]["template"]["metadata"]["annotations"][HASH_ANNOTATION] == trades_spec("dry").config_hash
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_status_follows_the_ingestion_pod(backend, cluster):
    backend.ensure(trades_spec())
    labels = cluster.only("Deployment")["spec"]["template"]["metadata"]["labels"]

    assert backend.status("trades_stream").alive  # pod not created yet: the controller is on it

    cluster.add_pod(labels, phase="Pending")
    starting = backend.status("trades_stream")
    assert starting.alive and starting.detail == "starting"
    assert starting.config_hash == trades_spec().config_hash

    cluster.add_pod(labels, waiting_reason="CrashLoopBackOff", log="Traceback ...\nValueError: bad product ZZZ")
    crashed = backend.status("trades_stream")
    assert not crashed.alive
    assert "CrashLoopBackOff" in crashed.detail
    assert crashed.last_log_lines[-1] == "ValueError: bad product ZZZ"


def test_a_deployment_that_cannot_create_its_pod_is_reported_dead(backend, cluster):
    backend.ensure(trades_spec())
    cluster.set_status("Deployment", "tradestream-trades-stream", {"conditions": [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "exceeded quota"}]})

    status = backend.status("trades_stream")

    assert not status.alive and "exceeded quota" in status.detail


def test_stop_scales_ingestion_to_zero_and_ensure_brings_it_back(backend, cluster):
    backend.ensure(trades_spec())

    assert backend.stop("trades_stream") is True
    assert cluster.only("Deployment")["spec"]["replicas"] == 0
    assert not backend.status("trades_stream").alive
    assert backend.stop("trades_stream") is False

    handle = backend.ensure(trades_spec())
    assert handle.started and cluster.only("Deployment")["spec"]["replicas"] == 1


def test_a_status_of_a_stream_never_started(backend):
    status = backend.status("signals_stream")
    assert not status.alive and status.detail == "never started"


# ------------------------------------------------------------------ Beam streams


def test_a_beam_stream_is_a_job_submitting_to_the_in_cluster_flink_with_the_worker_pool(backend, cluster):
    handle = backend.ensure(candles_spec())
    job = cluster.only("Job")
    container = stream_container(job)
    env = env_of(container)
    pod = job["spec"]["template"]

    validate(job)
    assert handle.started and handle.location == f"job/{NAMESPACE}/{job['metadata']['name']}"
    assert job["metadata"]["name"].startswith("tradestream-candles-stream-")
    assert container["args"][:5] == ["tradestream", "pipeline", "candles", "--mode", "stream"]
    assert container["args"].count("--flink-master") == 1
    assert container["args"][-2:] == ["--flink-master", JOBMANAGER]
    assert env["TRADESTREAM_FLINK_MASTER"] == JOBMANAGER
    assert env["TRADESTREAM_FLINK_WORKER_POOL"] == "localhost:50000"  # EXTERNAL: the sidecar beside each TaskManager
    assert pod["spec"]["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    assert pod["metadata"]["labels"]["tradestream.io/flink-client"] == "true"
    assert pod["metadata"]["labels"]["tradestream.io/kafka-client"] == "true"
    assert handle.ui_url == f"http://{JOBMANAGER}"


def test_a_running_beam_stream_with_the_same_config_is_confirmed(backend, cluster):
    backend.ensure(candles_spec())
    job = cluster.only("Job")
    cluster.set_status("Job", job["metadata"]["name"], {"active": 1, "startTime": "2026-01-01T00:00:05Z"})
    cluster.add_pod({"job-name": job["metadata"]["name"]})

    handle = backend.ensure(candles_spec())
    status = backend.status("candles_stream")

    assert not handle.started
    assert cluster.only("Job")["metadata"]["uid"] == job["metadata"]["uid"]
    assert status.alive and status.detail == "running" and status.started_at is not None


@pytest.mark.parametrize("savepoints_fail", [False, True])
def test_a_new_beam_config_stops_the_flink_job_with_a_savepoint_and_replaces_the_submitter(wet_templates, cluster,
                                                                                          savepoints_fail):
    flink = FakeFlink([{"jid": "b2", "name": "tradestream-signals", "state": "RUNNING"}], savepoints_fail)
    backend = KubernetesBackend(wet_templates[0], cluster, flink)
    backend.ensure(candles_spec())
    flink.running.append({"jid": "a1", "name": "tradestream-candles", "state": "RUNNING"})  # what it submitted
    old = cluster.only("Job")
    cluster.set_status("Job", old["metadata"]["name"], {"active": 1})
    cluster.add_pod({"job-name": old["metadata"]["name"]})

    handle = backend.ensure(candles_spec(timeframes=["1m", "5m"]))

    assert handle.started and handle.replaced
    if savepoints_fail:
        # no savepoint: cancelled, and its successor resumes from the retained checkpoint
        assert flink.savepoints == [] and flink.cancelled == ["a1"]
    else:
        # the signals pipeline keeps running; the candles one stops with its state saved where the
        # jobs look for it (streaming/jobs/checkpoints.py: <state root>/savepoints/<job name>)
        assert flink.savepoints == [("a1", "file:///var/lib/tradestream/flink-state/savepoints/tradestream-candles")]
        assert flink.cancelled == []
    (new,) = cluster.all("Job")
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert new["metadata"]["annotations"][HASH_ANNOTATION] == candles_spec(timeframes=["1m", "5m"]).config_hash


def test_a_failed_submitter_is_reported_dead_with_its_exit_code_and_log(backend, cluster):
    backend.ensure(candles_spec())
    job = cluster.only("Job")
    cluster.set_status("Job", job["metadata"]["name"],
                       {"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]})
    cluster.add_pod({"job-name": job["metadata"]["name"]}, phase="Failed", exit_code=2,
                    log="RuntimeError: Flink job server jar missing")

    status = backend.status("candles_stream")

    assert not status.alive
    assert status.exit_code == 2
    assert status.last_log_lines == ["RuntimeError: Flink job server jar missing"]
    # the next ensure starts over cleanly
    assert backend.ensure(candles_spec()).started
    assert len(cluster.all("Job")) == 1


def test_stop_cancels_on_flink_and_deletes_the_submitter(wet_templates, cluster):
    flink = FakeFlink([{"jid": "c3", "name": "tradestream-candles", "state": "RUNNING"}])
    backend = KubernetesBackend(wet_templates[0], cluster, flink)
    backend.ensure(candles_spec())

    assert backend.stop("candles_stream") is True
    assert cluster.all("Job") == []
    assert flink.cancelled == ["c3"]


def test_files_on_the_command_line_travel_in_the_pod_spec_and_the_init_container_writes_them(backend, cluster,
                                                                                              tmp_path):
    live = tmp_path / "live" / "active_strategies.yaml"
    live.parent.mkdir()
    live.write_text("strategies:\n  - name: MACD_CROSSOVER\n")
    spec = StreamSpec("signals_stream", "beam", ("tradestream", "pipeline", "signals", "--config", str(live)),
                      env=KAFKA_ENV, config={"live_config_sha256": "one"})

    backend.ensure(spec)
    job = cluster.only("Job")
    pod = job["spec"]["template"]["spec"]
    container = stream_container(job)
    (init,) = pod["initContainers"]
    config_arg = container["args"][container["args"].index("--config") + 1]

    validate(job)
    assert cluster.all("ConfigMap") == []  # the supervisor writes no ConfigMap
    assert config_arg.startswith(FILES_MOUNT + "/")
    assert {"name": "stream-files", "mountPath": FILES_MOUNT, "readOnly": True} in container["volumeMounts"]
    assert {"name": "stream-files", "mountPath": FILES_MOUNT} in init["volumeMounts"]
    # the init container's own command, with its own environment, writes the file where the stream reads it
    pod_dir = tmp_path / "pod"
    written = subprocess.run([sys.executable, *init["args"][1:-1], str(pod_dir)],
                             env={**os.environ, **env_of(init)}, capture_output=True, text=True, check=False)
    assert written.returncode == 0, written.stderr
    assert (pod_dir / Path(config_arg).name).read_text() == live.read_text()


def test_a_stream_gets_its_kafka_users_secret_and_the_image_of_its_spec(backend, cluster):
    image = "registry.example.com/tradestream@sha256:" + "c" * 64
    spec = StreamSpec("candles_stream", "beam", candles_spec().argv, env=KAFKA_ENV,
                      config={"flink_master": JOBMANAGER, "image": image}, kafka_user="candles")

    backend.ensure(spec)
    job = cluster.only("Job")
    pod = job["spec"]["template"]["spec"]

    validate(job)
    assert {"secretRef": {"name": "tradestream-kafka-user-candles"}} in stream_container(job)["envFrom"]
    assert {c["image"] for c in pod["containers"] + pod["initContainers"]} == {image}
    # a new image is a new config: the stream restarts on the new code
    assert spec.config_hash != candles_spec().config_hash


def test_every_call_the_backend_makes_is_allowed_by_the_supervisors_role(wet_templates, tmp_path):
    """Drive the backend through its whole life (start, adopt, replace, status, stop) against a
    recorder of API calls; then check each call against the chart's Role with Kubernetes' RBAC rule
    (group, resource, verb, and resourceNames where the rule names them)."""
    templates, manifests = wet_templates
    role = find(manifests, "Role", "tradestream-stream-supervisor")
    cluster = RecordingCluster()
    backend = KubernetesBackend(templates, cluster, FakeFlink())
    deployment = find(manifests, "Deployment", "tradestream-trades-stream")
    cluster.create({**deployment, "metadata": {**deployment["metadata"], "namespace": NAMESPACE}})
    cluster.calls.clear()

    backend.ensure(trades_spec())
    backend.ensure(trades_spec(TRADESTREAM_INGEST_RATE="9"))
    backend.status("trades_stream")
    backend.stop("trades_stream")
    backend.ensure(candles_spec())
    job = cluster.only("Job")
    cluster.add_pod({"job-name": job["metadata"]["name"]}, phase="Failed", exit_code=1, log="boom")
    cluster.set_status("Job", job["metadata"]["name"], {"failed": 1})
    backend.status("candles_stream")
    backend.ensure(candles_spec(timeframes=["1m"]))
    backend.stop("candles_stream")
    cluster.calls.append(("get", "", "configmaps", "tradestream-stream-templates"))

    refused = [call for call in cluster.calls if not rbac_allows(role["rules"], *call)]
    assert cluster.calls and refused == []


RESOURCES = {"Deployment": ("apps", "deployments"), "Job": ("batch", "jobs"), "Pod": ("", "pods"),
             "ConfigMap": ("", "configmaps")}


class RecordingCluster(FakeCluster):
    """FakeCluster noting each call as (verb, API group, resource, name) the way RBAC sees it."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, str, str, str | None]] = []

    def _note(self, verb, kind, name):
        self.calls.append((verb, *RESOURCES[kind], name))

    def get(self, kind, namespace, name):
        self._note("get", kind, name)
        return super().get(kind, namespace, name)

    def list(self, kind, namespace, label_selector):
        self._note("list", kind, None)
        return super().list(kind, namespace, label_selector)

    def create(self, obj):
        if obj["kind"] != "Pod":  # test pods stand for the Job controller's
            self._note("create", obj["kind"], None)
        return super().create(obj)

    def replace(self, obj):
        self._note("update", obj["kind"], obj["metadata"]["name"])
        return super().replace(obj)

    def patch(self, kind, namespace, name, patch):
        self._note("patch", kind, name)
        return super().patch(kind, namespace, name, patch)

    def delete(self, kind, namespace, name):
        self._note("delete", kind, name)
        return super().delete(kind, namespace, name)

    def pod_log(self, namespace, name, tail_lines):
        self.calls.append(("get", "", "pods/log", name))
        return super().pod_log(namespace, name, tail_lines)


def rbac_allows(rules, verb, group, resource, name) -> bool:
    """Kubernetes' RBAC rule match, written from its documentation: a rule allows a request when the
    group, the resource and the verb are listed, and resourceNames (if any) list the object's name
    (a create or list has no name and is never allowed by a rule with resourceNames)."""
    for rule in rules:
        if group not in rule["apiGroups"] or resource not in rule["resources"] or verb not in rule["verbs"]:
            continue
        names = rule.get("resourceNames")
        if not names or (name is not None and name in names):
            return True
    return False


def test_pipeline_dry_runs_on_beams_embedded_flink_without_a_worker_pool(helm, cluster):
    templates, _ = rendered_templates(helm, ["pipeline.runMode=dry"])
    backend = KubernetesBackend(templates, cluster)
    spec = StreamSpec("candles_stream", "beam", ("tradestream", "pipeline", "candles", "--mode", "stream"))

    handle = backend.ensure(spec)
    job = cluster.only("Job")
    env = env_of(stream_container(job))

    validate(job)
    assert backend.flink is None and handle.ui_url is None
    assert env["TRADESTREAM_FLINK_MASTER"] == "[local]"
    assert "TRADESTREAM_FLINK_WORKER_POOL" not in env
    assert "--flink-master" not in stream_container(job)["args"]


# ------------------------------------------------------------------ bad input


def test_missing_templates_are_reported_with_what_to_do(wet_templates):
    data = {"backend.yaml": "namespace: x\nobjectPrefix: tradestream\nflinkMaster: '[local]'\n"}
    with pytest.raises(StreamTemplateError, match=r"no key 'process-deployment.yaml'.*upgrade the release"):
        StreamTemplates.from_config_map_data(data)


def test_a_stream_name_that_cannot_name_a_kubernetes_object_is_refused(backend):
    with pytest.raises(ValueError, match=r"stream name 'Trades Stream' must be lowercase"):
        backend.ensure(StreamSpec("Trades Stream", "process", ("tradestream", "ingest")))


def test_an_unknown_stream_kind_is_refused(backend):
    with pytest.raises(ValueError, match=r"kind 'cron' is not 'process' or 'beam'"):
        backend.ensure(StreamSpec("x_stream", "cron", ("true",)))  # type: ignore[arg-type]


# ------------------------------------------------------------------ the official client, on the wire


class ApiServer(ThreadingHTTPServer):
    """FakeCluster behind the Kubernetes REST paths the adapter uses."""

    daemon_threads = True
    KINDS = {"deployments": ("apps/v1", "Deployment"), "jobs": ("batch/v1", "Job"),
             "configmaps": ("v1", "ConfigMap"), "pods": ("v1", "Pod")}

    def __init__(self, cluster: FakeCluster):
        super().__init__(("127.0.0.1", 0), ApiHandler)
        self.cluster = cluster
        self.requests: list[tuple[str, str, str | None]] = []


class ApiHandler(BaseHTTPRequestHandler):
    server: ApiServer

    def log_message(self, *args):
        pass

    def _route(self):
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        # /api/v1/namespaces/ns/configmaps[/name[/log]] or /apis/apps/v1/namespaces/ns/deployments[/name]
        ns_at = parts.index("namespaces")
        namespace, plural = parts[ns_at + 1], parts[ns_at + 2]
        name = parts[ns_at + 3] if len(parts) > ns_at + 3 else None
        sub = parts[ns_at + 4] if len(parts) > ns_at + 4 else None
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        return namespace, self.server.KINDS[plural][1], name, sub, params

    def _reply(self, status: int, body) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        from urllib.parse import unquote

        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((method, self.path, self.headers.get("Content-Type")))
        namespace, kind, name, sub, params = self._route()
        cluster = self.server.cluster
        try:
            if method == "GET" and sub == "log":
                self._reply(200, cluster.pod_log(namespace, name, int(params.get("tailLines", 10))))
            elif method == "GET" and name:
                obj = cluster.get(kind, namespace, name)
                self._reply(200, obj) if obj else self._reply(404, {"kind": "Status", "code": 404})
            elif method == "GET":
                self._reply(200, {"items": cluster.list(kind, namespace, unquote(params.get("labelSelector", "")))})
            elif method == "POST":
                self._reply(201, cluster.create(body))
            elif method == "PUT":
                self._reply(200, cluster.replace(body))
            elif method == "PATCH":
                self._reply(200, cluster.patch(kind, namespace, name, body))
            elif method == "DELETE":
                found = cluster.delete(kind, namespace, name)
                self._reply(200 if found else 404, {"kind": "Status", "code": 200 if found else 404})
        except ApiError as exc:
            self._reply(exc.status, {"kind": "Status", "code": exc.status, "message": str(exc)})

    def do_GET(self):  # noqa: N802
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def do_PUT(self):  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self):  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self):  # noqa: N802
        self._handle("DELETE")


@pytest.fixture
def api_server(cluster):
    server = ApiServer(cluster)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client_for(server: ApiServer) -> kubernetes.client.ApiClient:
    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    return kubernetes.client.ApiClient(configuration)


def test_the_official_client_adapter_speaks_the_api_paths_and_patch_type(wet_templates, cluster, api_server):
    backend = KubernetesBackend(wet_templates[0], KubernetesClientApi(client_for(api_server)), FakeFlink())

    backend.ensure(trades_spec())
    backend.ensure(trades_spec("dry"))
    backend.stop("trades_stream")
    backend.ensure(candles_spec())

    deployment = cluster.only("Deployment")
    assert stream_container(deployment)["args"][4] == "dry" and deployment["spec"]["replicas"] == 0
    assert cluster.only("Job")["metadata"]["name"].startswith("tradestream-candles-stream-")
    calls = {(method, path.split("?")[0]) for method, path, _ in api_server.requests}
    assert ("POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments") in calls
    assert ("PUT", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/tradestream-trades-stream") in calls
    assert ("POST", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs") in calls
    patches = [content_type for method, _, content_type in api_server.requests if method == "PATCH"]
    assert patches and set(patches) == {"application/merge-patch+json"}
    assert backend.status("trades_stream").detail == "stopped (scaled to 0)"


def test_in_cluster_reads_the_templates_of_the_release(wet_templates, helm, cluster, api_server, tmp_path,
                                                       monkeypatch):
    manifests = helm.template()
    config_map = copy.deepcopy(find(manifests, "ConfigMap", "tradestream-stream-templates"))
    config_map["metadata"]["namespace"] = NAMESPACE
    cluster.create(config_map)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": f"http://127.0.0.1:{api_server.server_address[1]}"}}],
        "users": [{"name": "test", "user": {}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("TRADESTREAM_K8S_NAMESPACE", NAMESPACE)

    backend = KubernetesBackend.in_cluster()

    assert backend.templates == wet_templates[0]
    with pytest.raises(StreamTemplateError, match="ConfigMap missing not found in namespace"):
        KubernetesBackend.in_cluster(templates_config_map="missing")
