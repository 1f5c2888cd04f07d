"""Fixtures of the replication tests that run on a real engine in-process."""

from __future__ import annotations

import pytest

from manhattan.storage import RocksEngine


@pytest.fixture
def engine(tmp_path):
    """A RocksDB engine in a temp dir with one dataset, ``ds``."""
    eng = RocksEngine(tmp_path / "db")
    eng.create_dataset("ds")
    yield eng
    eng.close()
