"""``manhattan node start``: run one node in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from manhattan.node.config import NodeConfig
from manhattan.node.logs import configure_logging
from manhattan.node.server import StorageNode

log = logging.getLogger("manhattan.node")


async def serve(config: NodeConfig) -> None:
    """Start a node and stop it gracefully on the first SIGTERM or SIGINT."""
    node = StorageNode(config)
    await node.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    if config.node.log_format == "text":  # json: every line of output is a JSON object
        print(f"manhattan node {config.node.id} listening on {config.node.listen} "
              f"(data in {config.node.data_dir})", flush=True)
    await stopping.wait()
    log.info("signal received; draining")
    await node.stop()


def run(config: NodeConfig) -> None:
    """Blocking entry point."""
    configure_logging(config.node.id, config.node.log_format, config.node.log_level)
    asyncio.run(serve(config))
