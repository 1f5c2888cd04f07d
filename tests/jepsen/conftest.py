"""Make the harness package importable: ``jepsen-style`` has a dash, so it is a path entry."""

from __future__ import annotations

import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "jepsen-style"
if str(HARNESS) not in sys.path:
    sys.path.insert(0, str(HARNESS))
