"""A bare grpc.aio unary echo server: the floor a unary RPC cannot go below.

Run as its own process (``python bench/echo.py``), like a real node, so that
server and client do not share an interpreter. The handler is generic (no
proto): request bytes in, the same bytes out. It prints ``PORT <n>`` once it
serves and stops on SIGTERM/SIGINT.

``EchoProcess`` starts it as a child and ends it by its PID; ``sync_echo`` and
``aio_echo`` make the matching clients.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

SERVICE = "bench.Echo"
METHOD = f"/{SERVICE}/Echo"
# What the node's server sets too, so that only the handler differs.
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
]


# -- the server (child process) --------------------------------------------------


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def serve(host: str, port: int) -> None:
    """Serve the echo method until SIGTERM/SIGINT."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}  # bytes passthrough
    )
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot listen on {host}:{port}")
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    print(f"PORT {bound}", flush=True)
    await stopping.wait()
    await server.stop(1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))


# -- the parent's side ------------------------------------------------------------


class EchoProcess:
    """The echo server as a child process; ``start()``, then ``stop()`` (by PID)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.address = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> "EchoProcess":
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--host", self.host],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # blocks until it serves (or dies)
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"echo server did not start (said {line!r})")
        self.address = f"{self.host}:{int(line.split()[1])}"
        with grpc.insecure_channel(self.address) as channel:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        return self

    def stop(self, grace: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to this PID only
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> "EchoProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def sync_echo(channel: grpc.Channel) -> Callable[[bytes], bytes]:
    """A blocking unary echo call on ``channel`` (bytes in, bytes out)."""
    return channel.unary_unary(METHOD)


def aio_echo(channel: grpc.aio.Channel) -> Callable[[bytes], Awaitable[bytes]]:
    """An asyncio unary echo call on ``channel``."""
    return channel.unary_unary(METHOD)


if __name__ == "__main__":
    main()
