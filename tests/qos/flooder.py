"""A tenant that floods the cluster, run as its own process by test_qos_cluster.py.

``python flooder.py ENDPOINTS TOKEN DATASET SECONDS CONCURRENCY`` sends puts with
no retries from CONCURRENCY coroutines for SECONDS, prints ``started`` when the
first request goes out, then one JSON line: what was served and refused, and how
many were served before the first refusal.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from manhattan.client import AsyncClient, QuotaExceeded, RetryPolicy
from manhattan.errors import ManhattanError


async def flood(endpoints: list[str], token: str, dataset: str, seconds: float,
                concurrency: int) -> dict[str, object]:
    stats: dict[str, object] = {"ok": 0, "exhausted": 0, "other": 0, "ok_before_first": None,
                                "first_rejection_s": None, "retry_after_seen": None}
    async with AsyncClient(endpoints, token=token, retry=RetryPolicy(max_attempts=1),
                           timeout=5) as client:
        await client.refresh_topology()
        ds = client.dataset(dataset)
        print("started", flush=True)
        start = time.monotonic()
        end = start + seconds
        counter = 0

        async def worker() -> None:
            nonlocal counter
            while time.monotonic() < end:
                counter += 1
                try:
                    await ds.put(f"p{counter % 64}", str(counter), b"x" * 16)
                    stats["ok"] += 1  # type: ignore[operator]
                except QuotaExceeded as exc:
                    stats["exhausted"] += 1  # type: ignore[operator]
                    if stats["ok_before_first"] is None:
                        stats["ok_before_first"] = stats["ok"]
                        stats["first_rejection_s"] = time.monotonic() - start
                        stats["retry_after_seen"] = exc.retry_after
                except ManhattanError:
                    stats["other"] += 1  # type: ignore[operator]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        stats["elapsed_s"] = time.monotonic() - start
    return stats


def main() -> None:
    endpoints, token, dataset, seconds, concurrency = sys.argv[1:6]
    result = asyncio.run(flood(endpoints.split(","), token, dataset, float(seconds),
                               int(concurrency)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
