"""How a CLI command finds its cluster and renders its answer.

Endpoints and token come from flags, then ``MANHATTAN_ENDPOINTS`` /
``MANHATTAN_TOKEN``, then a cluster file (``--cluster-file``,
``MANHATTAN_CLUSTER_FILE`` or ``./data/cluster.toml``), so local use needs no flags.
"""

from __future__ import annotations

import base64
import json
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from manhattan.types import Consistency, Durability

if TYPE_CHECKING:
    from manhattan.client import Client
    from manhattan.security.tls import TlsFiles

# Only what every command needs is imported at the top: `manhattan --help` and a
# command that does not talk to a cluster must not pay for gRPC and the SDK.

DEFAULT_CLUSTER_FILE = Path("data") / "cluster.toml"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliSettings:
    """Connection settings given on the command line or in the environment."""

    endpoints: str | None
    token: str | None
    cluster_file: Path | None
    timeout: float
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def _cluster_file_path(self) -> Path | None:
        return self.cluster_file or (DEFAULT_CLUSTER_FILE if DEFAULT_CLUSTER_FILE.exists()
                                     else None)

    def tls(self) -> TlsFiles | None:
        """TLS settings: the --ca-file/--cert-file/--key-file flags, else the cluster
        file's [tls] table (written by ``manhattan cluster up --tls``), else plaintext."""
        ca, cert, key = self.ca_file, self.cert_file, self.key_file
        path = self._cluster_file_path()
        if ca is None and path is not None and path.exists():
            try:
                table = read_cluster_file(path).get("tls") or {}
            except (OSError, ValueError):
                table = {}
            if table.get("ca"):
                ca = Path(table["ca"])
                cert = cert or (Path(table["cert"]) if table.get("cert") else None)
                key = key or (Path(table["key"]) if table.get("key") else None)
        if ca is None:
            if cert is not None or key is not None:
                raise click.UsageError("--cert-file/--key-file need --ca-file")
            return None
        from manhattan.security.tls import TlsFiles
        try:
            return TlsFiles(ca, cert, key)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None

    def resolve(self) -> tuple[list[str], str | None]:
        """(endpoints, token) after applying the cluster file's defaults."""
        endpoints = [e for e in (self.endpoints or "").split(",") if e.strip()]
        token = self.token
        path = self.cluster_file or (DEFAULT_CLUSTER_FILE if DEFAULT_CLUSTER_FILE.exists() else None)
        if path is not None and (not endpoints or not token):
            try:
                data = read_cluster_file(path)
            except OSError as exc:
                raise click.ClickException(f"cannot read cluster file {path}: {exc}") from None
            except ValueError as exc:
                raise click.ClickException(f"cluster file {path} is not valid TOML: {exc}") from None
            endpoints = endpoints or list(data.get("endpoints", []))
            token = token or data.get("admin_token")
        if not endpoints:
            raise click.ClickException(
                "no cluster to talk to: pass --endpoints HOST:PORT, set MANHATTAN_ENDPOINTS, "
                f"or run where {DEFAULT_CLUSTER_FILE} exists (make run writes it)"
            )
        return endpoints, token


def read_cluster_file(path: Path) -> dict[str, Any]:
    """The parsed cluster file. Read here rather than through ``manhattan.node``, whose
    package import pulls in the whole daemon (a quarter second on every command)."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


@contextmanager
def connect(ctx: click.Context) -> Iterator[Client]:
    """A Client for this command; Manhattan errors become clean CLI errors."""
    from manhattan.client import Client, ManhattanError

    settings: CliSettings = ctx.find_object(CliSettings)
    endpoints, token = settings.resolve()
    try:
        with Client(endpoints, token=token, timeout=settings.timeout,
                    tls=settings.tls()) as client:
            yield client
    except ManhattanError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc.message or exc}") from None


def output_option(func: F) -> F:
    """Add ``-o/--output table|wide|json``."""
    return click.option("-o", "--output", type=click.Choice(["table", "wide", "json"]),
                        default="table", show_default=True,
                        help="table: fits the terminal; wide: every column; json: for "
                             "scripts (stable).")(func)


def _enum_option(flag: str, parse: Callable[[str], Any], default: Any, help_text: str
                 ) -> Callable[[F], F]:
    def callback(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
        try:
            return parse(value) if value else default
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return click.option(flag, callback=callback, help=help_text)


def consistency_option(flag: str = "--consistency", help_text: str = "Consistency level"
                       ) -> Callable[[F], F]:
    """A one|quorum|all|serial option (unset: the dataset's default)."""
    return _enum_option(flag, Consistency.parse, Consistency.DEFAULT,
                        f"{help_text}: one|quorum|all|serial (default: the dataset's).")


def durability_option(help_text: str = "Durability") -> Callable[[F], F]:
    """A buffered|sync option (unset: the dataset's default)."""
    return _enum_option("--durability", Durability.parse, Durability.DEFAULT,
                        f"{help_text}: buffered|sync (default: the dataset's).")


def text(value: bytes) -> str:
    """Bytes shown as text when they are UTF-8, else as base64 with a prefix."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode()


def utc_ms(ms: int | None) -> str:
    """A time in ms since the epoch as a UTC time for tables (0/None: never)."""
    if not ms:
        return "never"
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def unlimited(value: float | None) -> str:
    """A limit for tables: 0 means unlimited."""
    return "unlimited" if not value else f"{value:g}"


# Table headers for keys that several commands print (JSON keeps the keys).
COMMON_HEADERS = {"created_at_ms": "created (UTC)", "expires_at_ms": "expires (UTC)",
                  "at_ms": "time (UTC)", "replication_factor": "rf",
                  "read_consistency": "read", "write_consistency": "write",
                  "default_ttl_ms": "ttl (s)", "ops_per_second": "ops/s",
                  "bytes_per_second": "bytes/s", "storage_quota_bytes": "quota (bytes)",
                  "burst_seconds": "burst (s)", "token_id": "token", "read_only": "read-only"}
COMMON_FORMATS = {"created_at_ms": utc_ms, "expires_at_ms": utc_ms, "at_ms": utc_ms,
                  "default_ttl_ms": lambda ms: f"{ms / 1000:g}" if ms else "none",
                  "ops_per_second": unlimited, "bytes_per_second": unlimited,
                  "storage_quota_bytes": unlimited}


def render(rows: Sequence[dict[str, Any]], output: str, *, title: str | None = None,
           empty: str = "(nothing)", headers: Mapping[str, str] | None = None,
           formats: Mapping[str, Callable[[Any], str]] | None = None,
           record: bool = False) -> None:
    """Print rows as a table that fits the terminal (``wide``: every column) or as JSON
    (a list of objects, keyed as given: ``headers`` and ``formats`` apply to tables only).
    ``record``: the command answers with one record, printed as ``key: value`` lines."""
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    if not rows:
        click.echo(empty)
        return
    from manhattan.cli.render import record_lines, table_lines

    headers = {**COMMON_HEADERS, **(headers or {})}
    formats = {**COMMON_FORMATS, **(formats or {})}
    if record and len(rows) == 1:
        if title:
            click.echo(title)
        click.echo(record_lines(rows[0], headers=headers, formats=formats))
        return
    click.echo(table_lines(rows, wide=output == "wide", title=title, headers=headers,
                           formats=formats))
