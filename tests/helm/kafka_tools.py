"""Kafka's own command-line tools for running the chart's Kafka scripts outside a cluster.

The broker start script and the topics Job call ``$KAFKA_HOME/bin/kafka-*.sh`` as in the
apache/kafka image. Here those are thin wrappers around the same Java classes
(StorageTool, TopicCommand, ConfigCommand), resolved from Maven Central with ``mvn`` once
and cached next to the project's other JVM artifacts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

POM = Path(__file__).with_name("kafka-tools.pom.xml")
TOOLS = {
    "kafka-storage.sh": "kafka.tools.StorageTool",
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs.sh": "kafka.admin.ConfigCommand",
}
LOG4J = """Configuration:
  Appenders:
    Console:
      name: STDERR
      target: SYSTEM_ERR
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDERR
"""


def _cache_root() -> Path:
    return Path(os.environ.get("TRADESTREAM_CACHE_DIR", "~/.cache/tradestream")).expanduser()


def kafka_tools_home(version: str) -> Path:
    """A folder with bin/kafka-{storage,topics,configs}.sh for Kafka ``version``; built once."""
    home = _cache_root() / f"test-kafka-tools-{version}-v2"
    if (home / ".complete").is_file():
        return home
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("mvn (Apache Maven) is needed to fetch Kafka's tools for the chart tests: "
                           "apt-get install maven")
    home.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    try:
        proc = subprocess.run([mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
                               "-DincludeScope=runtime", f"-DoutputDirectory={build / 'libs'}",
                               f"-Dkafka.version={version}"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"mvn could not resolve Kafka {version}'s tools:\n{(proc.stdout + proc.stderr)[-1500:]}")
        (build / "config").mkdir()
        (build / "config" / "tools-log4j2.yaml").write_text(LOG4J)
        (build / "bin").mkdir()
        for script, main_class in TOOLS.items():
            wrapper = build / "bin" / script
            wrapper.write_text(
                "#!/bin/bash\n"
                f'here="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"\n'
                # short-lived tools: skip the optimizing JIT and parallel GC, start faster
                'exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto '
                '-Dlog4j2.configurationFile="${here}/config/tools-log4j2.yaml" '
                f'-cp "${{here}}/libs/*" {main_class} "$@"\n')
            wrapper.chmod(0o755)
        (build / ".complete").write_text(version)
        if home.exists():
            shutil.rmtree(home)
        build.rename(home)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return home
