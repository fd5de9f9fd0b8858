"""``python -m streaming.supervisor.stream_files DIR``: the init container of a stream pod on Kubernetes.

Files a stream is given on its command line (the live strategy config) reach its pod in the
pod spec itself: the supervisor puts them, as JSON ``{name: content}``, into the variable
``TRADESTREAM_STREAM_FILES`` of this init container, which writes them into a volume the
stream reads. (Shipping them in ConfigMaps would let the supervisor's service account create
and delete ConfigMaps, and through that rewrite any ConfigMap of the namespace, the Kafka
brokers' start script included.)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ENV = "TRADESTREAM_STREAM_FILES"


def write_stream_files(payload: str, directory: Path) -> list[Path]:
    """Write every ``{name: content}`` of the JSON ``payload`` into ``directory``; the files written."""
    files = json.loads(payload or "{}")
    if not isinstance(files, dict):
        raise ValueError(f"{ENV} must hold a JSON object of file names and contents, got {type(files).__name__}")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"{ENV}: {name!r} is not a plain file name")
        path = directory / name
        path.write_text(content)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m streaming.supervisor.stream_files DIR  (files from $TRADESTREAM_STREAM_FILES)",
              file=sys.stderr)
        return 2
    try:
        written = write_stream_files(os.environ.get(ENV, "{}"), Path(args[0]))
    except (ValueError, OSError) as exc:
        print(f"stream_files: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
