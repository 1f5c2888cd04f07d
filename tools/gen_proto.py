"""Generate the Python code for the wire contract in proto/v1.

The .proto files import each other as ``manhattan/proto/v1/...`` so that the
generated modules import as ``manhattan.proto.v1...``. The repo keeps them in
``proto/`` (installed as ``manhattan.proto`` via package-dir), so generation
runs against a temporary include root where ``manhattan/proto`` points at it.

``python tools/gen_proto.py`` rewrites the checked-in code;
``python tools/gen_proto.py --check`` exits 1 when the checked-in code is stale.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO / "proto"
VERSION_DIR = "v1"


def generate(out_dir: Path) -> list[Path]:
    """Generate into ``out_dir`` (flat: one folder of *_pb2*.py[i] files)."""
    with tempfile.TemporaryDirectory() as tmp:
        include = Path(tmp) / "include"
        (include / "manhattan" / "proto").mkdir(parents=True)
        shutil.copytree(PROTO_DIR / VERSION_DIR, include / "manhattan" / "proto" / VERSION_DIR)
        generated = Path(tmp) / "out"
        generated.mkdir()
        sources = sorted((include / "manhattan" / "proto" / VERSION_DIR).glob("*.proto"))
        args = [
            "grpc_tools.protoc",
            f"-I{include}",
            f"--python_out={generated}",
            f"--pyi_out={generated}",
            f"--grpc_python_out={generated}",
            *[str(s.relative_to(include)) for s in sources],
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        out_dir.mkdir(parents=True, exist_ok=True)
        produced = []
        for path in sorted((generated / "manhattan" / "proto" / VERSION_DIR).iterdir()):
            target = out_dir / path.name
            shutil.copyfile(path, target)
            produced.append(target)
        return produced


def stale_files() -> list[str]:
    """Names of generated files that differ from a fresh generation."""
    checked_in = PROTO_DIR / VERSION_DIR
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = [p.name for p in fresh if not (checked_in / p.name).exists()
                 or not filecmp.cmp(p, checked_in / p.name, shallow=False)]
        fresh_names = {p.name for p in fresh}
        stale += [p.name for p in checked_in.glob("*_pb2*.py*") if p.name not in fresh_names]
        return sorted(stale)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        if stale:
            print("stale generated code (run `make proto`):", ", ".join(stale))
            return 1
        print("generated code is fresh")
        return 0
    for path in generate(PROTO_DIR / VERSION_DIR):
        print("wrote", path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
