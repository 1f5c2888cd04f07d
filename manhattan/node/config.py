"""Node configuration: a TOML file plus ``MANHATTAN_<SECTION>_<KEY>`` overrides.

Validated once at start-up; a bad value stops the node with a message that
names the key, e.g. ``limits.max_value_bytes: Input should be greater than 0``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator,
)

from manhattan.replication.chunking import STREAM_CHUNK_BYTES, message_budget
from manhattan.types import Durability

ENV_PREFIX = "MANHATTAN_"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port, got {value!r}")
    return value


class NodeSection(_Section):
    """Identity and addresses of this node."""

    id: int = Field(1, ge=1, le=2**31 - 1)
    listen: str = "127.0.0.1:7100"
    advertise: str = ""  # what peers and clients dial; defaults to listen
    data_dir: Path = Path("./data")
    zone: str = "default"
    admin_token: str = ""  # accepted as the admin token when set (shared by a cluster)
    # Prometheus /metrics over HTTP: "" turns it off, port 0 picks a free port (the
    # bound address is in NodeInfo and `manhattan status`).
    metrics_listen: str = "127.0.0.1:0"
    log_format: Literal["text", "json"] = "text"  # json: one object per line
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False  # one log line per request (method, code, latency)
    # On SIGTERM, health reports NOT_SERVING this long before the node stops taking
    # requests, so load balancers and health-checking clients move away first.
    drain_delay_s: float = Field(0.5, ge=0, le=300)

    _listen = field_validator("listen")(_check_address)

    @field_validator("advertise", "metrics_listen")
    @classmethod
    def _advertise(cls, value: str) -> str:
        return _check_address(value) if value else value


class LimitsSection(_Section):
    """Request limits: anything larger is rejected with INVALID_ARGUMENT."""

    max_key_bytes: int = Field(4096, gt=0, le=65535)
    max_value_bytes: int = Field(1024 * 1024, gt=0)
    max_batch_records: int = Field(1000, gt=0)
    max_batch_bytes: int = Field(16 * 1024 * 1024, gt=0)
    max_scan_limit: int = Field(10_000, gt=0)
    max_ttl_ms: int = Field(10 * 365 * 24 * 3600 * 1000, gt=0)
    max_message_bytes: int = Field(64 * 1024 * 1024, gt=0)
    # One reply's records (multi-get, scan page, a replica's answer): larger ones are paged.
    max_response_bytes: int = Field(4 * 1024 * 1024, gt=0)
    # Concurrent calls (HTTP/2 streams) one connection may have open; more wait.
    max_concurrent_streams: int = Field(1000, gt=0, le=1_000_000)
    max_tokens_per_tenant: int = Field(100, gt=0, le=100_000)
    # A request over its rate limit or quota is refused after this pause: a client that
    # ignores retry-after cannot flood the node with refusals. 0: refuse at once.
    throttle_delay_s: float = Field(0.1, ge=0, le=5)

    @model_validator(mode="after")
    def _messages_fit(self) -> "LimitsSection":
        """Every message a node builds must fit ``max_message_bytes``: one record in a
        reply, a whole batch in a replica write, a reply page in a replica's answer."""
        one_record = self.max_value_bytes + self.max_key_bytes + 1024
        if self.max_response_bytes < one_record:
            raise ValueError(
                f"max_response_bytes ({self.max_response_bytes}) must hold one record: at "
                f"least max_value_bytes + max_key_bytes + 1024 = {one_record}")
        budget = message_budget(self.max_message_bytes)
        batch = self.max_batch_bytes + 256 * self.max_batch_records
        needs = {"a batch (max_batch_bytes + 256 per record)": batch,
                 "twice max_response_bytes": 2 * self.max_response_bytes,
                 "a repair or streaming chunk (8 MiB + one record)":
                     STREAM_CHUNK_BYTES + one_record}
        for what, size in needs.items():
            if size > budget:
                raise ValueError(
                    f"max_message_bytes ({self.max_message_bytes}) is too small: a message "
                    f"must carry {what} = {size} bytes with room to spare (usable: {budget})")
        return self


class StorageSection(_Section):
    """Background maintenance of the engine."""

    purge_interval_s: float = Field(5.0, gt=0)
    purge_budget: int = Field(10_000, gt=0)
    tombstone_grace_s: float = Field(10 * 24 * 3600, ge=0)
    default_durability: Durability = Durability.SYNC
    # An fsync with none other asked for within the last millisecond runs on the event
    # loop's thread, not a worker's, while fsyncs average under this (two thread
    # hand-offs cost about as much as a fast fsync). 0: always in the worker thread.
    inline_fsync_below_ms: float = Field(0.5, ge=0, le=10)

    @field_validator("default_durability", mode="before")
    @classmethod
    def _durability(cls, value: Any) -> Any:
        return Durability.parse(value) if isinstance(value, str) else value


class ClockSection(_Section):
    """Hybrid logical clock limits."""

    # A timestamp further ahead of this node's wall clock is refused on every path.
    max_skew_ms: int = Field(60_000, gt=0)
    # While this node's wall clock runs further ahead of its peers' (median, measured
    # on heartbeats) it refuses to coordinate writes (Unavailable), until it is back.
    max_drift_ms: int = Field(5_000, gt=0)
    # How far ahead the persisted HLC ceiling is reserved: one fsync per window; a
    # restart begins above it (so up to this far ahead of the wall clock).
    reserve_ms: int = Field(2_000, gt=0, le=60_000)
    # Fault injection (jepsen-style/): a file holding an offset in ms added to the
    # wall clock, re-read while running. Empty (the default) = the system clock.
    offset_file: str = ""

    @model_validator(mode="after")
    def _drift_within_skew(self) -> "ClockSection":
        if "max_drift_ms" not in self.model_fields_set:
            # Left to its default, the drift limit follows a smaller skew limit down.
            object.__setattr__(self, "max_drift_ms", min(self.max_drift_ms, self.max_skew_ms))
        if self.max_drift_ms > self.max_skew_ms:
            raise ValueError(f"clock.max_drift_ms ({self.max_drift_ms}) must not exceed "
                             f"clock.max_skew_ms ({self.max_skew_ms})")
        return self


class MemberConfig(_Section):
    """One member of the initial topology."""

    id: int = Field(ge=1, le=2**31 - 1)
    address: str
    zone: str = "default"
    weight: int = Field(1, ge=1, le=100)
    # host:port of the member's metadata log (Raft); "" = its address' port + 1000.
    metadata_address: str = ""

    _address = field_validator("address")(_check_address)

    @field_validator("metadata_address")
    @classmethod
    def _metadata_address(cls, value: str) -> str:
        return _check_address(value) if value else value


class ClusterSection(_Section):
    """Membership, replication and failure detection."""

    # The initial topology (epoch 1); empty means a cluster of this node alone.
    members: list[MemberConfig] = []
    vnodes: int = Field(256, ge=1, le=4096)
    replica_timeout_s: float = Field(5.0, gt=0)
    max_request_timeout_s: float = Field(30.0, gt=0)
    ping_interval_s: float = Field(0.5, gt=0)
    phi_threshold: float = Field(8.0, gt=0)
    max_hints_per_peer: int = Field(100_000, ge=0)
    hint_replay_interval_s: float = Field(1.0, gt=0)

    @field_validator("members")
    @classmethod
    def _unique(cls, members: list[MemberConfig]) -> list[MemberConfig]:
        ids = [m.id for m in members]
        if len(set(ids)) != len(ids):
            raise ValueError("member ids must be unique")
        return members


class RepairSection(_Section):
    """Anti-entropy: the background exchange of hash trees with peers."""

    enabled: bool = True
    # about one full background pass over every (dataset, peer) pair per interval
    interval_s: float = Field(10.0, gt=0)
    keys_per_s: float = Field(50_000, ge=0)  # keys hashed per second per side; 0: unlimited
    # hash trees are kept current as writes apply; each is rebuilt from a full scan
    # at most this often anyway (a backstop against a change no write path marked)
    tree_max_age_s: float = Field(3600.0, gt=0)


class StreamingSection(_Section):
    """Range streaming for membership changes."""

    chunk_records: int = Field(2000, gt=0, le=100_000)
    max_records_per_s: float = Field(0, ge=0)  # 0: unlimited
    max_bytes_per_s: float = Field(0, ge=0)  # 0: unlimited


class TlsSection(_Section):
    """TLS for clients and mutual TLS between nodes: a switch, off by default."""

    enabled: bool = False
    ca: Path | None = None    # PEM: the CA that signs node and client certificates
    cert: Path | None = None  # PEM: this node's certificate, served and shown to peers
    key: Path | None = None   # PEM: its private key
    # Every caller must present a certificate signed by `ca` (nodes always do).
    require_client_cert: bool = True

    @model_validator(mode="after")
    def _files(self) -> "TlsSection":
        if self.enabled:
            for name in ("ca", "cert", "key"):
                path = getattr(self, name)
                if path is None:
                    raise ValueError(f"tls.{name} is required when tls.enabled is true")
                if not Path(path).is_file():
                    raise ValueError(f"tls.{name}: file {path} does not exist")
        return self


class MetadataSection(_Section):
    """The replicated metadata log (Raft, embedded): tenants, tokens, datasets, limits."""

    enabled: bool = True  # false: the previous LWW catalog spread by gossip
    # This node's Raft endpoint; "" = its cluster.members entry (metadata_address, else
    # the gRPC port + 1000), or a free loopback port for a node alone.
    listen: str = ""
    dir: Path | None = None  # default: <node.data_dir>/metadata
    voters: list[int] = []  # node ids that vote; empty = the first 5 members by id
    # Cut off from a majority longer than this, a node refuses tenant calls (metadata
    # stale: a token revoked meanwhile must not keep working). 0 = never refuse.
    max_staleness_s: float = Field(30.0, ge=0)
    election_timeout_s: float = Field(0.6, ge=0.2, le=30)
    connection_timeout_s: float = Field(2.0, ge=0.5, le=60)
    command_timeout_s: float = Field(5.0, gt=0, le=300)  # admin calls without a deadline

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_address(value) if value else value


class NodeConfig(_Section):
    """The whole node configuration."""

    node: NodeSection = NodeSection()
    limits: LimitsSection = LimitsSection()
    storage: StorageSection = StorageSection()
    clock: ClockSection = ClockSection()
    cluster: ClusterSection = ClusterSection()
    tls: TlsSection = TlsSection()
    repair: RepairSection = RepairSection()
    streaming: StreamingSection = StreamingSection()
    metadata: MetadataSection = MetadataSection()

    @property
    def advertise_address(self) -> str:
        """The address others dial."""
        return self.node.advertise or self.node.listen

    @property
    def db_path(self) -> Path:
        """Where RocksDB lives."""
        return self.node.data_dir / "db"


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    sections = NodeConfig.model_fields
    overrides: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        for section in sections:
            if rest.startswith(section + "_"):
                overrides.setdefault(section, {})[rest[len(section) + 1:]] = value
                break
    return overrides


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> NodeConfig:
    """Read TOML (optional), apply environment then explicit overrides, validate."""
    data: dict[str, dict[str, Any]] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    layers = [_env_overrides(os.environ if environ is None else environ), overrides or {}]
    for layer in layers:
        for section, values in layer.items():
            if not isinstance(data.setdefault(section, {}), dict):
                raise ConfigError(f"{section}: expected a table")
            data[section].update(values)
    try:
        return NodeConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
