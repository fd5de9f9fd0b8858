"""JVM artifacts of the local runtime, provisioned with `mvn` (and PyPI for Flink's scripts).

Everything lands in ``settings.paths.cache_dir`` (default ``~/.cache/tradestream``), shared
by checkouts and CI runs, and is fetched only by ``make setup`` (``tradestream setup``):
nothing downloads at run time. Each artifact folder is written to a temporary sibling and
renamed into place when complete, with a ``.complete`` marker listing its jars, so an
interrupted download is never mistaken for a good one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tradestream.settings import Settings

Progress = Callable[[str], None]
MARKER = ".complete"


class RuntimeSetupError(RuntimeError):
    """A prerequisite of the local runtime is missing or broken. The message says what to do."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- prerequisites


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise RuntimeSetupError("java is not installed (need Java 17+): `apt-get install openjdk-17-jre-headless` "
                                "or set JAVA_HOME")
    return found


def java_major_version(java: str | None = None) -> int:
    out = subprocess.run([java or java_binary(), "-version"], capture_output=True, text=True, check=False).stderr
    # e.g. 'openjdk version "17.0.15" 2025-04-15'
    for token in out.split('"')[1:2]:
        head = token.split(".")[0]
        if head == "1":  # 1.8.0_x
            return int(token.split(".")[1])
        if head.isdigit():
            return int(head)
    raise RuntimeSetupError(f"cannot read the Java version from `java -version`: {out.strip()!r}")


def require_java17() -> str:
    java = java_binary()
    major = java_major_version(java)
    if major < 17:
        raise RuntimeSetupError(f"{java} is Java {major}; Kafka 4 and Flink need Java 17 or newer (set JAVA_HOME)")
    return java


def mvn_binary() -> str:
    found = shutil.which("mvn")
    if not found:
        raise RuntimeSetupError("mvn (Apache Maven) is not installed; it fetches Kafka and Beam's jars from Maven "
                                "Central: `apt-get install maven`")
    return found


# ---------------------------------------------------------------- artifact folders


@dataclass(frozen=True)
class Artifact:
    name: str      # human name for progress lines
    folder: Path   # final folder in the cache

    @property
    def complete(self) -> bool:
        return (self.folder / MARKER).is_file()


def _pom_digest(name: str) -> str:
    # cache folders carry the POM's digest, so editing a POM provisions a fresh classpath
    return hashlib.sha256(_pom(name).read_bytes()).hexdigest()[:8]


def kafka_artifact(settings: Settings) -> Artifact:
    v = settings.kafka.version
    return Artifact(f"Apache Kafka {v} broker",
                    settings.paths.cache_dir / f"kafka-{v}-{_pom_digest('kafka.xml')}")


def job_server_artifact(settings: Settings) -> Artifact:
    f = settings.flink
    return Artifact(f"Beam {f.beam_version} Flink {f.flink_version} job server",
                    settings.paths.cache_dir / f"beam-{f.beam_version}-flink-{f.flink_version}-job-server-"
                                               f"{_pom_digest('beam-flink-job-server.xml')}")


def flink_artifact(settings: Settings) -> Artifact:
    v = settings.flink.distribution_version
    return Artifact(f"Apache Flink {v} distribution", settings.paths.cache_dir / f"flink-{v}")


def kafka_classpath(settings: Settings) -> str:
    art = kafka_artifact(settings)
    verify(art)
    return str(art.folder / "libs" / "*")


def job_server_jar(settings: Settings) -> Path:
    """The pathing jar that ``--flink_job_server_jar`` accepts (runs FlinkJobServerDriver)."""
    art = job_server_artifact(settings)
    verify(art)
    return art.folder / "job-server.jar"


def flink_home(settings: Settings) -> Path:
    art = flink_artifact(settings)
    verify(art)
    return art.folder


def verify(art: Artifact) -> None:
    """Raise a clear error when an artifact is missing or its jars are damaged."""
    if not art.folder.is_dir() or not art.complete:
        raise RuntimeSetupError(f"{art.name} is not provisioned in {art.folder}; run `make setup`")
    manifest = json.loads((art.folder / MARKER).read_text())
    for rel, size in manifest.get("files", {}).items():
        path = art.folder / rel
        if not path.is_file() or path.stat().st_size != size:
            raise RuntimeSetupError(
                f"{art.name} cache is corrupt: {path} is missing or has the wrong size; "
                f"delete {art.folder} and run `make setup`")


def _seal(folder: Path, started: float) -> dict:
    files = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*.jar") if p.is_file()}
    for rel in files:
        try:
            with zipfile.ZipFile(folder / rel) as zf:
                if zf.testzip() is not None:
                    raise zipfile.BadZipFile(rel)
        except zipfile.BadZipFile as exc:
            raise RuntimeSetupError(
                f"downloaded jar {folder / rel} is damaged ({exc}); run `make setup` again") from exc
    manifest = {"files": files, "sealed_at": time.time(), "seconds": round(time.time() - started, 1)}
    (folder / MARKER).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def _install(art: Artifact, build: Callable[[Path], None], progress: Progress) -> Artifact:
    if art.complete:
        try:
            verify(art)
            progress(f"[setup] {art.name}: cached in {art.folder}")
            return art
        except RuntimeSetupError as exc:
            progress(f"[setup] {art.name}: {exc}; fetching again")
    progress(f"[setup] {art.name}: fetching ...")
    started = time.time()
    art.folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{art.folder.name}-", dir=art.folder.parent))
    try:
        build(tmp)
        manifest = _seal(tmp, started)
        if art.folder.exists():
            shutil.rmtree(art.folder)
        tmp.rename(art.folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum((art.folder / f).stat().st_size for f in manifest["files"]) / 1e6
    progress(f"[setup] {art.name}: done, {len(manifest['files'])} jars, {size:.0f} MB, {manifest['seconds']} s")
    return art


def _pom(name: str) -> Path:
    return Path(str(resources.files("tradestream.runtime") / "poms" / name))


def _mvn_copy_dependencies(pom: Path, out: Path, props: dict[str, str]) -> None:
    cmd = [mvn_binary(), "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={out}"] + [f"-D{k}={v}" for k, v in props.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("[ERROR]") and ln[7:].strip()]
        tail = "\n".join(errors[:4]) or (proc.stdout + proc.stderr).strip()[-800:]
        raise RuntimeSetupError(f"mvn could not resolve {pom.name} ({props}):\n{tail}")


def provision_kafka(settings: Settings, progress: Progress = _stderr) -> Artifact:
    def build(tmp: Path) -> None:
        _mvn_copy_dependencies(_pom("kafka.xml"), tmp / "libs", {"kafka.version": settings.kafka.version})
        if not list((tmp / "libs").glob(f"kafka_2.13-{settings.kafka.version}.jar")):
            raise RuntimeSetupError(f"mvn did not deliver kafka_2.13-{settings.kafka.version}.jar")

    return _install(kafka_artifact(settings), build, progress)


def provision_job_server(settings: Settings, progress: Progress = _stderr) -> Artifact:
    f = settings.flink

    def build(tmp: Path) -> None:
        libs = tmp / "libs"
        _mvn_copy_dependencies(_pom("beam-flink-job-server.xml"), libs,
                               {"beam.version": f.beam_version, "flink.minor": f.flink_version})
        write_pathing_jar(tmp / "job-server.jar", sorted(libs.glob("*.jar")),
                          "org.apache.beam.runners.flink.FlinkJobServerDriver",
                          extra={"simplelogger.properties": "org.slf4j.simpleLogger.defaultLogLevel=warn\n"})

    return _install(job_server_artifact(settings), build, progress)


def write_pathing_jar(path: Path, jars: list[Path], main_class: str, extra: dict[str, str] | None = None) -> None:
    """A jar holding only a manifest whose Class-Path names ``jars`` (relative to ``path``)."""
    rel = " ".join(str(j.relative_to(path.parent)) for j in jars)
    lines = ["Manifest-Version: 1.0", f"Main-Class: {main_class}", f"Class-Path: {rel}", "Created-By: tradestream"]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "".join(_manifest_line(line) for line in lines) + "\r\n")
        for name, text in (extra or {}).items():
            zf.writestr(name, text)


def _manifest_line(line: str) -> str:
    # Manifest lines are at most 72 bytes; continuation lines start with one space.
    data = line.encode()
    chunks = [data[:72]] + [data[i:i + 71] for i in range(72, len(data), 71)]
    return "\r\n ".join(c.decode() for c in chunks) + "\r\n"


def provision_flink(settings: Settings, progress: Progress = _stderr) -> Artifact:
    """Flink's scripts and jars from the ``apache-flink`` wheel and ``apache-flink-libraries`` sdist.

    Both are unpacked with ``--no-deps`` (never installed: apache-flink pins an old Beam).
    """
    version = settings.flink.distribution_version
    wheels = settings.paths.cache_dir / "flink-wheels"

    def download(spec: str, extra: list[str]) -> Path:
        wheels.mkdir(parents=True, exist_ok=True)
        name = spec.split("==")[0].replace("-", "_")
        found = [p for p in wheels.iterdir() if p.name.replace("-", "_").startswith(f"{name}_{version}")]
        if found:
            return found[0]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), spec, *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeSetupError(f"pip could not download {spec}: {proc.stderr.strip()[-400:]}")
        found = [p for p in wheels.iterdir() if p.name.replace("-", "_").startswith(f"{name}_{version}")]
        if not found:
            raise RuntimeSetupError(f"pip reported success but {spec} is not in {wheels}")
        return found[0]

    def build(tmp: Path) -> None:
        # Only the shell scripts and config of the wheel are used, so any CPython tag will do.
        wheel = download(f"apache-flink=={version}", ["--only-binary=:all:", "--python-version", "3.11",
                                                      "--platform", "manylinux2014_x86_64"])
        libs = download(f"apache-flink-libraries=={version}", ["--no-binary=:all:", "--no-build-isolation"])
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                for sub in ("bin/", "conf/"):
                    prefix = f"pyflink/{sub}"
                    if member.startswith(prefix) and not member.endswith("/"):
                        target = tmp / sub / member[len(prefix):]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(zf.read(member))
        with tarfile.open(libs) as tf:
            for member in tf.getmembers():
                parts = member.name.split("/")
                if len(parts) >= 4 and parts[1] == "deps" and parts[2] in ("lib", "opt", "plugins", "bin") \
                        and member.isfile():
                    target = tmp.joinpath(*parts[2:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tf.extractfile(member) as src:  # type: ignore[union-attr]
                        target.write_bytes(src.read())
        for script in (tmp / "bin").iterdir():
            script.chmod(0o755)
        if not (tmp / "lib" / f"flink-dist-{version}.jar").is_file():
            raise RuntimeSetupError(f"apache-flink-libraries {version} has no flink-dist jar")

    return _install(flink_artifact(settings), build, progress)


def provision_all(settings: Settings, progress: Progress = _stderr) -> None:
    require_java17()
    provision_kafka(settings, progress)
    provision_job_server(settings, progress)
    provision_flink(settings, progress)
