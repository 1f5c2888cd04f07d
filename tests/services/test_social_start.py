"""The social service started while the storage cluster is not ready (its metadata log
has no majority yet) waits for it, saying so in its log, instead of exiting."""

from __future__ import annotations

import threading
import time

from manhattan.services.client import SocialClient
from manhattan.services.process import SocialProcess
from tests.clusters import eventually, only, paused, start_cluster

PAUSE_S = 12.0  # longer than the SDK's own retries of a refusal (5 attempts, backoff <= 1 s)


def test_the_service_waits_for_a_cluster_without_a_metadata_majority(tmp_path):
    local = start_cluster(tmp_path / "cluster")
    service = SocialProcess(local.data_dir, options=["--lease-validity", "1"])
    failures: list[BaseException] = []

    def start() -> None:
        try:
            service.start(timeout=120)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    starter = threading.Thread(target=start, name="social-start")
    try:
        with paused(local.node(2), local.node(3)):
            with only(local.node(1).address, local.admin_token) as admin:
                assert eventually(lambda: not admin.admin.node_info(
                    timeout=2).metadata.has_majority, timeout=10)
            starter.start()
            time.sleep(PAUSE_S)  # the schema step is refused: no metadata majority
            assert service.proc is not None and service.proc.poll() is None, \
                service.log_tail()
        starter.join(120)
        assert not starter.is_alive() and not failures, failures or service.log_tail()
        assert "waiting for the storage cluster" in service.log_tail()
        with SocialClient(service.address, token=service.api_token) as social:
            social.create_user("patient")
            assert social.user("patient").following == 0
    finally:
        starter.join(120)
        service.stop()
        local.stop()
