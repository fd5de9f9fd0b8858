#!/usr/bin/env bash
# Build the helm CLI from the Go module proxy into the TradeStream cache, once.
#
# Debian ships no helm and PyPI has no helm binary, but `go install` fetches helm's
# sources through the Go module proxy, which this project may use. The binary lands in
# $TRADESTREAM_BIN_DIR, default ${TRADESTREAM_CACHE_DIR:-~/.cache/tradestream}/bin; a
# second run only checks that the cached binary reports the pinned version and returns.
#
# Usage: scripts/install_helm.sh            prints the path of the helm binary
#        HELM_VERSION=v3.21.4 scripts/install_helm.sh
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
CACHE_DIR="${TRADESTREAM_CACHE_DIR:-${HOME}/.cache/tradestream}"
BIN_DIR="${TRADESTREAM_BIN_DIR:-${CACHE_DIR/#\~/${HOME}}/bin}"
HELM="${BIN_DIR}/helm"

cached_version() {
  [[ -x "${HELM}" ]] && "${HELM}" version --template '{{.Version}}' 2>/dev/null || true
}

if [[ "$(cached_version)" == "${HELM_VERSION}" ]]; then
  echo "${HELM}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install_helm.sh: the Go toolchain is needed to build helm ${HELM_VERSION}; install Go 1.24+ (apt-get install golang or https://go.dev/dl) and rerun" >&2
  exit 1
fi

mkdir -p "${BIN_DIR}"
# Two callers (make setup and a test session) may build at the same time: one builds,
# the other waits and then finds the cached binary.
exec 9>"${BIN_DIR}/.helm.lock"
flock 9
if [[ "$(cached_version)" == "${HELM_VERSION}" ]]; then
  echo "${HELM}"
  exit 0
fi

build_dir="$(mktemp -d "${BIN_DIR}/.helm-build.XXXXXX")"
trap 'rm -rf "${build_dir}"' EXIT
echo "install_helm.sh: building helm ${HELM_VERSION} from the Go module proxy (a few minutes, once)" >&2
# -trimpath and CGO off give a static, reproducible binary; GOFLAGS=-mod=mod keeps a
# workspace or vendor setting of the caller from leaking in. Helm's release builds stamp
# the full version with the linker (without it `helm version` says only "v3.21"), and so
# do we, so the cache check above can compare it.
if ! GOBIN="${build_dir}" CGO_ENABLED=0 GOFLAGS=-mod=mod \
    go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >"${build_dir}/build.log" 2>&1; then
  echo "install_helm.sh: go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} failed; its output:" >&2
  cat "${build_dir}/build.log" >&2
  exit 1
fi
mv -f "${build_dir}/helm" "${HELM}"

built="$(cached_version)"
if [[ "${built}" != "${HELM_VERSION}" ]]; then
  echo "install_helm.sh: built helm reports version '${built}', expected ${HELM_VERSION}" >&2
  exit 1
fi
echo "${HELM}"
