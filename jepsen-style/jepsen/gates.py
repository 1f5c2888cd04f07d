"""Which checks decide a run's exit status, and which run in the smoke.

Every check has a short id. A full run (``make jepsen``) is decided by all of them. The
smoke (``--smoke``, which ``make test`` runs) is decided by ``SMOKE_CHECKS`` only, and
runs only the workloads those checks need. A check that fails on today's code stays out
of the smoke until the fix lands; turning it on is one line: uncomment its id below.
"""

from __future__ import annotations

# id -> what must hold (the report's wording)
CHECKS: dict[str, str] = {
    "set-lost": "acked insert-only writes lost = 0",
    "phantoms": "phantom values = 0",
    "convergence": "divergent keys 30 s after heal = 0",
    "stale-strict": "no stale reads when R+W>N",
    "sessions": "no read-your-writes / monotonic-read violations when R+W>N",
    "linearizable": "QUORUM/QUORUM register linearizable (unknown allowed)",
    "cas": "SERIAL compare-and-set register linearizable, nothing excluded for clock faults",
    "counter": "counters: no lost and no duplicated increment, every counter read at the end",
    "harness": "harness ran every fault without error",
    "timeline-lost": "fan-out: no acknowledged post missing from a follower's home timeline "
                     "after heal",
    "timeline-entries": "home timelines: no phantom, duplicate, misordered or unfollowed entry",
    "set-reads": "set read at QUORUM under load holds every element acked before it began",
    "causal": "no acked overwrite lost to a write acked before it began; no read older than "
              "a write acked before it began (real time, clock faults included)",
    "zombies": "no deleted value comes back after its delete was acked",
    "size": "large values: no message-size failure, no other tenant's op failed or lost",
    "admin-changes": "no acknowledged admin change lost or contradicted after heal",
    "metadata-agreement": "every node's metadata identical within 30 s of the heal",
    "revocation": "a revoked token refused by every node within the bound",
    "tenant-isolation": "no tenant reads another tenant's record",
    "membership": "membership changes finish, resume or abort from another member; of two "
                  "at once at most one accepted; members agree on the topology",
}

# The smoke's gate: one line per check. Commented ids fail on today's code (see the
# README's "The smoke"); uncomment one when its fix lands.
SMOKE_CHECKS: list[str] = [
    "set-lost",
    "phantoms",
    "convergence",
    "stale-strict",
    "sessions",
    "linearizable",
    "cas",
    "counter",
    "harness",
    "timeline-lost",
    "timeline-entries",
    "set-reads",
    "causal",
    "zombies",
    "size",
    "admin-changes",
    "metadata-agreement",
    "revocation",
    "tenant-isolation",
    "membership",  # with runner.SMOKE_LAST = ["member-driver-kill"]
]

# the workloads a check needs (checks not listed need only the base workloads)
WORKLOADS_OF: dict[str, list[str]] = {
    "causal": ["causal"],
    "cas": ["cas-register"],
    "zombies": ["deletes"],
    "size": ["large", "neighbour"],
    "admin-changes": ["admin"],
    "metadata-agreement": ["admin"],
    "revocation": ["admin", "revoke-probe"],
    "tenant-isolation": ["admin", "tenants"],
}


def workloads_for(checks: list[str]) -> set[str]:
    """The optional workloads the given checks need."""
    return {w for c in checks for w in WORKLOADS_OF.get(c, [])}


def validate(checks: list[str]) -> list[str]:
    """``checks`` if every id is known, else ValueError naming the unknown ones."""
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks: {unknown}; known: {sorted(CHECKS)}")
    return checks
