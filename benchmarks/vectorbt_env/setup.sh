#!/usr/bin/env bash
# Build (once) and print the path of vectorbt's own virtual environment.
#
# vectorbt 1.2 needs newer numba/pandas than pandas-ta accepts, so it lives in a separate
# venv under the cache (default ~/.cache/tradestream/vectorbt-venv, override with
# TRADESTREAM_VECTORBT_VENV). Idempotent: an existing venv whose stamp matches
# requirements.txt is reused. The last line of stdout is the venv's python.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${TRADESTREAM_VECTORBT_VENV:-${HOME}/.cache/tradestream/vectorbt-venv}"
requirements="${here}/requirements.txt"
stamp="${venv}/.tradestream-requirements"

if [[ -x "${venv}/bin/python" && -f "${stamp}" ]] && cmp -s "${requirements}" "${stamp}"; then
  echo "${venv}/bin/python"
  exit 0
fi

find_python() {
  if [[ -n "${TRADESTREAM_VECTORBT_PYTHON:-}" ]]; then echo "${TRADESTREAM_VECTORBT_PYTHON}"; return; fi
  if command -v pyenv >/dev/null 2>&1; then
    local candidate
    for candidate in "$(pyenv root)"/versions/3.12.*/bin/python3.12; do
      [[ -x "${candidate}" ]] && { echo "${candidate}"; return; }
    done
  fi
  for candidate in python3.12 python3; do
    if command -v "${candidate}" >/dev/null 2>&1 \
       && "${candidate}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      command -v "${candidate}"; return
    fi
  done
}

python="$(find_python)"
if [[ -z "${python}" ]]; then
  echo "no Python 3.12 interpreter found for vectorbt's venv; install one with pyenv or set TRADESTREAM_VECTORBT_PYTHON" >&2
  exit 1
fi

echo "building vectorbt venv at ${venv} with ${python}" >&2
rm -rf "${venv}"
mkdir -p "$(dirname "${venv}")"
uv="$(command -v uv || true)"
[[ -z "${uv}" && -x "${here}/../../.venv/bin/uv" ]] && uv="${here}/../../.venv/bin/uv"
if [[ -n "${uv}" ]]; then
  "${uv}" venv --quiet --python "${python}" "${venv}" >&2
  "${uv}" pip install --quiet --python "${venv}/bin/python" -r "${requirements}" >&2
else
  "${python}" -m venv "${venv}" >&2
  "${venv}/bin/python" -m pip install --quiet --upgrade pip >&2
  "${venv}/bin/python" -m pip install --quiet -r "${requirements}" >&2
fi
"${venv}/bin/python" -c 'import vectorbt' >&2
cp "${requirements}" "${stamp}"
echo "${venv}/bin/python"
