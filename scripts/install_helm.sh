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
# Bumped when the way helm is built changes, so an older cached build is replaced.
BUILD_RECIPE=2
STAMP="${BIN_DIR}/.helm-build"

cached_version() {
  [[ -x "${HELM}" && "$(cat "${STAMP}" 2>/dev/null)" == "${HELM_VERSION} ${BUILD_RECIPE}" ]] \
    && "${HELM}" version --template '{{.Version}}' 2>/dev/null || true
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
# Helm's release builds also stamp the Kubernetes version it assumes without a cluster
# (`helm template` capabilities, lint's deprecation rules) from its client-go module; without
# it a source build assumes Kubernetes 1.20. Same recipe as helm's Makefile.
if ! module_json="$(GOFLAGS=-mod=mod go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" 2>"${build_dir}/download.log")"; then
  echo "install_helm.sh: cannot download helm.sh/helm/v3@${HELM_VERSION} from the Go module proxy:" >&2
  cat "${build_dir}/download.log" >&2
  exit 1
fi
go_mod="$(printf '%s\n' "${module_json}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
client_go="$(awk '$1 == "k8s.io/client-go" {print $2}' "${go_mod}")"   # e.g. v0.36.2 -> Kubernetes 1.36
k8s_minor="$(printf '%s' "${client_go}" | cut -d. -f2)"
if [[ ! "${k8s_minor}" =~ ^[0-9]+$ ]]; then
  echo "install_helm.sh: cannot read the client-go version of helm ${HELM_VERSION} from ${go_mod}" >&2
  exit 1
fi
k8s_flags=""
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  k8s_flags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
done
# -trimpath and CGO off give a static, reproducible binary; GOFLAGS=-mod=mod keeps a
# workspace or vendor setting of the caller from leaking in. Helm's release builds stamp
# the full version with the linker (without it `helm version` says only "v3.21"), and so
# do we, so the cache check above can compare it.
if ! GOBIN="${build_dir}" CGO_ENABLED=0 GOFLAGS=-mod=mod \
    go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}${k8s_flags}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >"${build_dir}/build.log" 2>&1; then
  echo "install_helm.sh: go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} failed; its output:" >&2
  cat "${build_dir}/build.log" >&2
  exit 1
fi
mv -f "${build_dir}/helm" "${HELM}"
echo "${HELM_VERSION} ${BUILD_RECIPE}" > "${STAMP}"

built="$(cached_version)"
if [[ "${built}" != "${HELM_VERSION}" ]]; then
  echo "install_helm.sh: built helm reports version '${built}', expected ${HELM_VERSION}" >&2
  exit 1
fi
echo "${HELM}"
