# syntax=docker/dockerfile:1
# TradeStream's image: Dagster's code server and run workers, ingestion, the Beam pipeline
# submitters (Python plus Beam's Flink job server on Java 17) and the Beam worker pool that
# runs next to every Flink TaskManager. Non-root (uid 10001).
#
#   docker build -t <registry>/tradestream:0.1.0 .
#   docker build --build-arg FLINK_VERSIONS="1.18 1.19" ...   # job servers for pipeline.version 1.18 and 1.19

ARG PYTHON_VERSION=3.12
ARG DEBIAN_RELEASE=bookworm

###############################################################################################
# Python dependencies: exactly the versions of requirements.lock, minus the dev extra
###############################################################################################
FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE} AS python-deps
ARG UV_VERSION=0.13.9
ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
# requirements.lock pins runtime and dev dependencies together; resolving pyproject's runtime
# dependencies under it as constraints yields the runtime subset with the same pins.
RUN uv pip compile pyproject.toml --constraint requirements.lock --python-version "${PYTHON_VERSION}" \
        --no-header --output-file /tmp/runtime.txt \
 && uv venv /opt/venv --python "/usr/local/bin/python${PYTHON_VERSION}" \
 && uv pip install --python /opt/venv/bin/python --no-deps --requirement /tmp/runtime.txt
COPY protos ./protos
COPY tradestream ./tradestream
COPY streaming ./streaming
COPY tradestream_assets ./tradestream_assets
COPY tradestream_cli ./tradestream_cli
RUN uv pip install --python /opt/venv/bin/python --no-deps . \
 && /opt/venv/bin/tradestream --help >/dev/null

###############################################################################################
# Beam's Flink job server classpath (a pathing jar and its libs), fetched from Maven Central
# by the project's own provisioning code, one folder per Flink version
###############################################################################################
FROM python-deps AS job-server
ARG FLINK_VERSIONS="1.19"
RUN apt-get update \
 && apt-get install -y --no-install-recommends maven \
 && rm -rf /var/lib/apt/lists/*
ENV TRADESTREAM_CACHE_DIR=/opt/tradestream/cache
RUN for version in ${FLINK_VERSIONS}; do \
      TRADESTREAM_FLINK_FLINK_VERSION="${version}" /opt/venv/bin/python -c \
        "from tradestream.runtime.jars import provision_job_server; from tradestream.settings import Settings; provision_job_server(Settings.load())" \
      || exit 1; \
    done

###############################################################################################
# Runtime
###############################################################################################
FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE}
# Java 17 runs Beam's Flink job server in the submitters; tini reaps the processes Beam starts
# (job server JVM, SDK workers) and forwards signals.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 tradestream \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/tradestream --shell /usr/sbin/nologin tradestream \
 && mkdir -p /opt/dagster/dagster_home /var/lib/tradestream \
 && chown 10001:10001 /opt/dagster/dagster_home /var/lib/tradestream
COPY --from=python-deps /opt/venv /opt/venv
COPY --from=job-server /opt/tradestream/cache /opt/tradestream/cache
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRADESTREAM_CACHE_DIR=/opt/tradestream/cache \
    TRADESTREAM_HOME=/tmp/tradestream \
    DAGSTER_HOME=/opt/dagster/dagster_home
WORKDIR /opt/tradestream
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["tradestream", "--help"]
