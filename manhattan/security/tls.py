"""TLS settings shared by the node, the SDK and the CLI.

One switch: with TLS on, every connection to a node is TLS and, by default,
mutual — a caller must present a certificate signed by the cluster's CA. Nodes
present their own certificate to each other, so a peer without a valid one is
refused during the handshake, before any RPC (admin token or not) is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


class TlsError(ValueError):
    """A TLS file is missing or unreadable; the message names it."""


def _read(path: str | Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TlsError(f"{what} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN" not in data:
        raise TlsError(f"{what} {path} is not PEM")
    return data


@dataclass(frozen=True)
class TlsFiles:
    """A CA certificate and, optionally, a certificate + key to present (PEM files)."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise TlsError("a client certificate needs its key (and a key its certificate)")

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Credentials to dial a node: trust the CA, present our certificate if any."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca, "CA file"),
            private_key=_read(self.key, "key file") if self.key else None,
            certificate_chain=_read(self.cert, "certificate file") if self.cert else None,
        )

    def server_credentials(self, require_client_cert: bool = True) -> grpc.ServerCredentials:
        """Credentials to serve: our certificate, and callers verified against the CA."""
        if self.cert is None or self.key is None:
            raise TlsError("a node needs tls.cert and tls.key to serve TLS")
        return grpc.ssl_server_credentials(
            [(_read(self.key, "tls.key"), _read(self.cert, "tls.cert"))],
            root_certificates=_read(self.ca, "tls.ca"),
            require_client_auth=require_client_cert,
        )


def channel(address: str, credentials: grpc.ChannelCredentials | None,
            options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A blocking channel, TLS when ``credentials`` are given."""
    if credentials is None:
        return grpc.insecure_channel(address, options=list(options))
    return grpc.secure_channel(address, credentials, options=list(options))


def aio_channel(address: str, credentials: grpc.ChannelCredentials | None,
                options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
    """An asyncio channel, TLS when ``credentials`` are given."""
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=list(options))
    return grpc.aio.secure_channel(address, credentials, options=list(options))
