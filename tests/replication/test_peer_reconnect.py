"""A peer that restarted is written to as soon as it is seen alive again.

gRPC backs off between connection attempts to a peer that went away; a replica call
opened within that backoff failed at once, so a write at ALL (or a repair exchange)
right after the restart could fail although every replica was up (seen as flaky
repair and ALL-write tests on loaded runs). Now a call to a peer the failure detector
has heard from since waits for the channel to connect (within its own timeout), and a
call to a peer that refuses connections still fails fast. On real nodes the window is
a race between gossip and the call, so this pins the rule itself on a real channel.
"""

from __future__ import annotations

import asyncio

import grpc

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.node.process import free_port
from manhattan.replication.peer_link import PeerLink


def test_a_call_waits_for_a_reconnect_only_to_a_peer_heard_from_since() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        detector = PhiAccrualDetector(expected_interval_s=0.2)
        link = PeerLink(2, f"127.0.0.1:{free_port()}", metadata=(), detector=detector)
        try:
            fresh = link.reconnecting_to_live_peer()  # never tried: fail fast
            detector.failure(2)
            link.channel.get_state(try_to_connect=True)  # nobody listens: it fails
            for _ in range(100):
                if link.channel.get_state() == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                    break
                await asyncio.sleep(0.02)
            refused = link.reconnecting_to_live_peer()  # failed, not heard from since
            detector.heartbeat(2)
            restarted = link.reconnecting_to_live_peer()  # heard from since: wait
            return fresh, refused, restarted
        finally:
            await link.close()

    assert asyncio.run(scenario()) == (False, False, True)
