"""Large values must not hurt anyone: no message-size failure, no neighbour harmed.

Ops: workload ``large`` (tenant ``big``: ``put`` of 64 KiB - 1 MiB values, ``get-many``
whose answer exceeds the nodes' message limit) and workload ``neighbour`` (another
tenant: small ``add`` of unique elements at QUORUM, and its final ``read``). Fails on:

- size errors: any op whose error shows gRPC's message-size refusal ("larger than max",
  RESOURCE_EXHAUSTED from a transport): a message too big for a stream, which on the
  node-to-node stream ends it for every operation it carries. A refusal the node
  chooses (``InvalidRequest``: "page it") is not one; ``log_size_errors`` counts the
  same text in the nodes' logs;
- large ops timed out with no fault in force: a put or multi-key read answered ``Timeout``
  (too few replicas answered) while nothing was faulted: what a node-to-node stream reset
  by an oversized message looks like to a client (a replica's answer that never arrives);
- neighbour harmed: a neighbour op that failed or is indeterminate while a large op was
  in flight and no fault was in force (``fault_windows``);
- neighbour lost: an acknowledged neighbour add missing from its final read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from jepsen.history import OK, Op, pairs

SIZE_MARKERS = ("larger than max", "resource_exhausted", "message too large")


def size_error(error: str) -> bool:
    """Whether an op's error text is gRPC's message-size refusal."""
    text = error.lower()
    return any(m in text for m in SIZE_MARKERS)


def check_size(large: Iterable[Op], neighbour: Iterable[Op], *,
               fault_windows: Sequence[tuple[float, float]] = (), log_size_errors: int = 0,
               sample: int = 10) -> dict[str, Any]:
    """Size errors, harmed and lost neighbour ops."""
    big = pairs(large)
    small = pairs(neighbour)
    errors = [{"f": p.invoke.f, "key": p.invoke.key, "error": p.complete.error,
               "at": p.invoke.time} for p in (*big, *small)
              if p.complete is not None and p.complete.error and size_error(p.complete.error)]
    spans = [(p.invoke.time, p.complete.time if p.complete is not None else float("inf"))
             for p in big]

    def overlaps(a: float, b: float, windows: Iterable[tuple[float, float]]) -> bool:
        return any(a <= e and b >= s for s, e in windows)
    harmed = []
    for p in small:
        if p.type == OK or p.invoke.f != "add" or p.invoke.process == 0:
            continue
        end = p.complete.time if p.complete is not None else float("inf")
        if overlaps(p.invoke.time, end, spans) and not overlaps(p.invoke.time, end,
                                                                 fault_windows):
            harmed.append({"value": p.invoke.value, "type": p.type, "at": p.invoke.time,
                           "error": p.complete.error if p.complete else ""})
    unfaulted = [{"f": p.invoke.f, "key": p.invoke.key, "at": p.invoke.time,
                  "error": p.complete.error if p.complete else ""} for p in big
                 if p.type != OK and p.complete is not None
                 and p.complete.error.startswith("Timeout") and not overlaps(
                     p.invoke.time, p.complete.time if p.complete else float("inf"),
                     fault_windows)]
    reads = [p for p in small if p.invoke.f == "read" and p.type == OK and p.complete]
    final = {str(e) for e in reads[-1].complete.value} if reads else set()  # type: ignore[union-attr]
    acked = [str(p.invoke.value) for p in small if p.invoke.f == "add" and p.type == OK]
    lost = sorted(set(acked) - final) if reads else []
    large_ok = sum(1 for p in big if p.type == OK)
    return {
        "valid": not errors and not harmed and not lost and bool(reads) and log_size_errors == 0
        and not unfaulted,
        "large_ops": len(big), "large_ok": large_ok,
        "large_bytes_acked": sum(int(p.invoke.value or 0) for p in big
                                 if p.invoke.f == "put" and p.type == OK),
        "multi_reads": sum(1 for p in big if p.invoke.f == "get-many"),
        "size_error_count": len(errors), "size_errors": errors[:sample],
        "log_size_errors": log_size_errors,
        "large_failed_unfaulted_count": len(unfaulted), "large_failed_unfaulted": unfaulted[:sample],
        "neighbour_ops": len(small), "neighbour_acked": len(acked),
        "neighbour_harmed_count": len(harmed), "neighbour_harmed": harmed[:sample],
        "neighbour_lost_count": len(lost), "neighbour_lost": lost[:sample],
        "neighbour_final_read": bool(reads),
    }
