"""Generate the protobuf modules under tradestream/v1 from protos/ (``make setup`` runs this).

``--check`` regenerates into a temporary folder and fails when the committed modules
differ from what the .proto files produce.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
PACKAGE = "tradestream/v1"


def proto_files() -> list[Path]:
    return sorted((PROTOS / PACKAGE).glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    import grpc_tools
    from grpc_tools import protoc  # dev dependency: only needed to regenerate

    include = Path(grpc_tools.__file__).parent / "_proto"
    files = [str(p.relative_to(PROTOS)) for p in proto_files()]
    code = protoc.main(["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
                        *files])
    if code != 0:
        raise SystemExit(f"protoc failed ({code}) on {files}")
    return sorted((out_dir / PACKAGE).glob("*_pb2.py*"))


def drift() -> list[str]:
    """Names of generated modules that differ from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        out = []
        for f in fresh:
            committed = ROOT / PACKAGE / f.name
            if not committed.exists() or not filecmp.cmp(f, committed, shallow=False):
                out.append(f.name)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when generated modules drift from protos/")
    parser.add_argument("--if-changed", action="store_true", help="regenerate only when a .proto is newer")
    args = parser.parse_args(argv)
    if args.check:
        changed = drift()
        if changed:
            print(f"generated modules drift from protos/: {changed}; run `make setup`", file=sys.stderr)
            return 1
        return 0
    targets = sorted((ROOT / PACKAGE).glob("*_pb2.py"))
    newest_proto = max(p.stat().st_mtime for p in proto_files())
    if args.if_changed and targets and len(targets) == len(proto_files()) and \
            min(t.stat().st_mtime for t in targets) >= newest_proto:
        return 0
    generate(ROOT)
    print(f"[setup] generated protobuf modules in {PACKAGE}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
