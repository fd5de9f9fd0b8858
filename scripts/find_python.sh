#!/usr/bin/env bash
# Print the path of a working Python 3.12 interpreter, or explain what was looked at and exit 1.
# Order: $TRADESTREAM_PYTHON, python3.12 on PATH, pyenv's versions folder, /usr/bin, /usr/local/bin.
set -uo pipefail
candidates=()
[[ -n "${TRADESTREAM_PYTHON:-}" ]] && candidates+=("$TRADESTREAM_PYTHON")
command -v python3.12 >/dev/null 2>&1 && candidates+=("$(command -v python3.12)")
pyroot="${PYENV_ROOT:-$HOME/.pyenv}"
command -v pyenv >/dev/null 2>&1 && pyroot="$(pyenv root 2>/dev/null || echo "$pyroot")"
while IFS= read -r p; do candidates+=("$p"); done < <(ls -d "$pyroot"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V -r)
candidates+=(/usr/bin/python3.12 /usr/local/bin/python3.12)
for c in "${candidates[@]}"; do
  # pyenv's shim exists even when no 3.12 is selected; accept only one that really runs 3.12
  if [[ -x "$c" ]] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
    echo "$c"
    exit 0
  fi
done
echo "no Python 3.12 found (looked at \$TRADESTREAM_PYTHON, python3.12 on PATH, $pyroot/versions/3.12.*/bin/python3.12, /usr/bin/python3.12, /usr/local/bin/python3.12); install one (e.g. 'pyenv install 3.12') or set TRADESTREAM_PYTHON=/path/to/python3.12" >&2
exit 1
