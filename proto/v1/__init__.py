"""Manhattan wire contract, version 1 (generated code; see tools/gen_proto.py)."""
