#!/usr/bin/env bash
# Build actionlint (the GitHub Actions workflow checker) from the Go module proxy into the
# TradeStream cache, once, the way scripts/install_helm.sh builds helm: no runner can be reached
# from here, so the workflows in .github/workflows are checked with it instead (tests/test_workflows.py).
#
# Usage: scripts/install_actionlint.sh        prints the path of the actionlint binary
#        ACTIONLINT_VERSION=v1.7.12 scripts/install_actionlint.sh
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
CACHE_DIR="${TRADESTREAM_CACHE_DIR:-${HOME}/.cache/tradestream}"
BIN_DIR="${TRADESTREAM_BIN_DIR:-${CACHE_DIR/#\~/${HOME}}/bin}"
ACTIONLINT="${BIN_DIR}/actionlint"

cached() { [[ -x "${ACTIONLINT}" && "$("${ACTIONLINT}" -version 2>/dev/null | head -n 1)" == "${ACTIONLINT_VERSION}" ]]; }

if cached; then
  echo "${ACTIONLINT}"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install_actionlint.sh: the Go toolchain is needed to build actionlint ${ACTIONLINT_VERSION}; install Go 1.24+ and rerun" >&2
  exit 1
fi
mkdir -p "${BIN_DIR}"
exec 9>"${BIN_DIR}/.actionlint.lock"   # a concurrent caller waits, then finds the cached binary
flock 9
if cached; then
  echo "${ACTIONLINT}"
  exit 0
fi
build_dir="$(mktemp -d "${BIN_DIR}/.actionlint-build.XXXXXX")"
trap 'rm -rf "${build_dir}"' EXIT
echo "install_actionlint.sh: building actionlint ${ACTIONLINT_VERSION} from the Go module proxy (once)" >&2
# actionlint's release builds stamp the version with the linker; so do we, for the check above
if ! GOBIN="${build_dir}" CGO_ENABLED=0 GOFLAGS=-mod=mod \
    go install -trimpath -ldflags "-s -w -X github.com/rhysd/actionlint.version=${ACTIONLINT_VERSION}" \
    "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}" >"${build_dir}/build.log" 2>&1; then
  echo "install_actionlint.sh: go install github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION} failed:" >&2
  cat "${build_dir}/build.log" >&2
  exit 1
fi
mv -f "${build_dir}/actionlint" "${ACTIONLINT}"
if ! cached; then
  echo "install_actionlint.sh: the built actionlint reports '$("${ACTIONLINT}" -version | head -n 1)', expected ${ACTIONLINT_VERSION}" >&2
  exit 1
fi
echo "${ACTIONLINT}"
