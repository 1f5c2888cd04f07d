"""The checked-in generated code matches the .proto sources."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _gen_proto():
    spec = importlib.util.spec_from_file_location("gen_proto", REPO / "tools" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_proto"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_fresh():
    stale = _gen_proto().stale_files()
    assert stale == [], f"run `make proto`: stale generated files {stale}"


def test_stale_check_notices_an_edited_proto(tmp_path, monkeypatch):
    gen = _gen_proto()
    copy = tmp_path / "proto"
    (copy / "v1").mkdir(parents=True)
    for path in (REPO / "proto" / "v1").iterdir():
        if path.is_file():
            (copy / "v1" / path.name).write_bytes(path.read_bytes())
    source = copy / "v1" / "types.proto"
    source.write_text(source.read_text().replace("uint32 writer = 2;", "uint32 writer = 2;\n  uint32 extra = 15;"))
    monkeypatch.setattr(gen, "PROTO_DIR", copy)
    assert "types_pb2.py" in gen.stale_files()


def test_generated_modules_import_under_the_manhattan_namespace():
    from manhattan.proto.v1 import admin_pb2_grpc, data_pb2, data_pb2_grpc

    assert data_pb2.DESCRIPTOR.package == "manhattan.v1"
    assert hasattr(data_pb2_grpc, "DataStub") and hasattr(admin_pb2_grpc, "AdminStub")
