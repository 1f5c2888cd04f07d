"""How a CLI command finds its cluster and renders its answer.

Endpoints and token come from flags, then ``MANHATTAN_ENDPOINTS`` /
``MANHATTAN_TOKEN``, then a cluster file (``--cluster-file``,
``MANHATTAN_CLUSTER_FILE`` or ``./data/cluster.toml``), so local use needs no flags.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from manhattan.client import Client, Consistency, Durability, ManhattanError
from manhattan.node.cluster_file import read_cluster_file
from manhattan.security.tls import TlsFiles

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


@contextmanager
def connect(ctx: click.Context) -> Iterator[Client]:
    """A Client for this command; Manhattan errors become clean CLI errors."""
    settings: CliSettings = ctx.find_object(CliSettings)
    endpoints, token = settings.resolve()
    try:
        with Client(endpoints, token=token, timeout=settings.timeout,
                    tls=settings.tls()) as client:
            yield client
    except ManhattanError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc.message or exc}") from None


def output_option(func: F) -> F:
    """Add ``-o/--output table|json``."""
    return click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="Output format.")(func)


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
    """A one|quorum|all option (unset: the dataset's default)."""
    return _enum_option(flag, Consistency.parse, Consistency.DEFAULT,
                        f"{help_text}: one|quorum|all (default: the dataset's).")


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


def render(rows: Sequence[dict[str, Any]], output: str, *, title: str | None = None,
           empty: str = "(nothing)") -> None:
    """Print rows as a rich table or as JSON (a list of objects)."""
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    if not rows:
        click.echo(empty)
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)
