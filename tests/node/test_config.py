"""Node configuration: TOML, environment overrides, validation naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from manhattan.node.config import ConfigError, load_config
from manhattan.types import Durability


def test_defaults_are_valid():
    config = load_config(environ={})
    assert config.node.listen == "127.0.0.1:7100"
    assert config.limits.max_key_bytes == 4096
    assert config.limits.max_value_bytes == 1024 * 1024
    assert config.storage.default_durability is Durability.SYNC


def test_toml_file_then_environment_then_flags_override_in_that_order(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text('[node]\nid = 7\nlisten = "127.0.0.1:9001"\n[limits]\nmax_value_bytes = 10\n')
    config = load_config(path, environ={"MANHATTAN_NODE_LISTEN": "127.0.0.1:9002",
                                        "MANHATTAN_LIMITS_MAX_VALUE_BYTES": "20"},
                         overrides={"node": {"listen": "127.0.0.1:9003"}})
    assert config.node.id == 7
    assert config.node.listen == "127.0.0.1:9003"
    assert config.limits.max_value_bytes == 20


@pytest.mark.parametrize("env, key", [
    ({"MANHATTAN_LIMITS_MAX_VALUE_BYTES": "abc"}, "limits.max_value_bytes"),
    ({"MANHATTAN_LIMITS_MAX_VALUE_BYTES": "0"}, "limits.max_value_bytes"),
    ({"MANHATTAN_NODE_LISTEN": "nowhere"}, "node.listen"),
    ({"MANHATTAN_NODE_BOGUS": "1"}, "node.bogus"),
    ({"MANHATTAN_STORAGE_DEFAULT_DURABILITY": "eventually"}, "storage.default_durability"),
    ({"MANHATTAN_NODE_ID": "-3"}, "node.id"),
])
def test_invalid_values_are_reported_with_the_key_name(env, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(environ=env)


@pytest.mark.parametrize("limits, says", [
    ({"max_response_bytes": 1000}, "max_response_bytes (1000) must hold one record"),
    ({"max_message_bytes": 8 << 20}, "a batch (max_batch_bytes + 256 per record)"),
    ({"max_response_bytes": 40 << 20}, "twice max_response_bytes"),
    ({"max_message_bytes": 9 << 20, "max_batch_bytes": 1 << 20}, "a repair or streaming chunk"),
])
def test_limits_that_would_let_a_message_outgrow_max_message_bytes_are_refused(limits, says):
    with pytest.raises(ConfigError, match="limits") as refused:
        load_config(environ={}, overrides={"limits": limits})
    assert says in str(refused.value)
    assert load_config(environ={}).limits.max_response_bytes == 4 << 20


def test_unparseable_toml_is_a_clear_error(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text("[node\nid = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, environ={})


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml", environ={})


def test_node_start_with_bad_config_exits_non_zero_naming_the_key(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text("[limits]\nmax_key_bytes = 70000\n")
    result = subprocess.run(
        [sys.executable, "-m", "manhattan.cli", "node", "start", "--config", str(path),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "limits.max_key_bytes" in result.stderr


def test_the_default_drift_limit_follows_a_smaller_skew_limit_and_an_explicit_one_is_checked():
    from manhattan.node.config import ClockSection
    from pydantic import ValidationError

    assert ClockSection().max_drift_ms == 5_000
    assert ClockSection(max_skew_ms=500).max_drift_ms == 500
    with pytest.raises(ValidationError, match="max_drift_ms"):
        ClockSection(max_skew_ms=500, max_drift_ms=600)
