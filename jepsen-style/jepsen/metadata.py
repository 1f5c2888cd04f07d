"""Metadata under faults: tenants, datasets and tokens created, dropped and revoked while
the nemesis partitions and pauses nodes, with the data plane of those tenants in use.

- ``AdminWorkload`` (admin token): creates tenants (sometimes the same name through two
  nodes at once), gives dataset names of a small shared pool to one tenant after another
  (create, drop, create for another tenant: names are reused), creates and revokes tokens;
  after healing, snapshots every node's metadata until they agree (bounded).
- ``TenantWorkload``: each tenant writes values that name it ("tenant|n") into the datasets
  it owns and reads them back: any other tenant's value is a cross-tenant read.
- ``RevokeProbe``: after each acknowledged revoke, tries the token on every node for a
  while: refused (Unauthenticated) or accepted (anything the token got past auth).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Any

from manhattan.client import Client, Consistency, NotFound, PermissionDenied, Unauthenticated

from jepsen.checkers.metadata import AGREE_BOUND_S, REVOKE_BOUND_S
from jepsen.history import OK
from jepsen.workloads import Env, Workload, make_client

NAMES = ["d0", "d1", "d2"]   # dataset names shared by every tenant, one owner at a time
ADMIN_TIMEOUT_S = 4.0
PROBE_EXTRA_S = 3.0          # probe this long past the bound


class Shared:
    """What the admin workload made, for the tenant workload and the prober."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}            # tenant -> its first token
        self.owner: dict[str, str] = {}             # dataset name -> tenant
        self.extra: list[tuple[str, str, str]] = []  # (tenant, token id, secret), revocable
        self.revoked: list[tuple[str, str, float]] = []  # (secret, token id, acked at)


def node_metadata(address: str, token: str) -> dict[str, list[str]]:
    """One node's own view: tenants, "tenant/dataset", token ids."""
    with make_client([address], token, pinned=True, timeout=ADMIN_TIMEOUT_S) as c:
        return {"tenants": sorted(t.name for t in c.admin.list_tenants()),
                "datasets": sorted(f"{d.tenant}/{d.name}" for d in c.admin.list_datasets()),
                "tokens": sorted(t.token_id for t in c.admin.list_tokens())}


def _view(address: str, token: str) -> dict[str, Any]:
    """``node_metadata``, or ``{"error": ...}`` for a node that refuses to answer (under
    the metadata log a node cut off from the voters answers Unavailable instead of its
    stale view): one silent node must not hide what the others answered."""
    try:
        return node_metadata(address, token)
    except Exception as exc:  # noqa: BLE001 - any failure is that node's answer
        return {"error": f"{type(exc).__name__}: {exc}"}


class AdminWorkload(Workload):
    """One admin session making metadata changes under faults."""

    name = "admin"
    threads = 1

    def __init__(self, env: Env, first_process: int, shared: Shared, rf: int) -> None:
        super().__init__(env, first_process)
        self.shared = shared
        self.rf = rf
        self._tenants = itertools.count()
        self.pinned = [make_client([a], env.token, pinned=True, timeout=ADMIN_TIMEOUT_S)
                       for a in env.endpoints]

    def _create_tenant(self, process: int, name: str, client: Client) -> None:
        holder: list[str] = []  # the token stays out of the history

        def create() -> bool:
            holder.append(client.admin.create_tenant(name, timeout=ADMIN_TIMEOUT_S))
            return True
        if self.invoke(process, "create-tenant", name, None, create)[0] == OK:
            with self.shared.lock:
                self.shared.tokens.setdefault(name, holder[0])

    def step(self, process: int, rng: random.Random) -> None:
        s = self.shared
        with s.lock:
            tenants = sorted(s.tokens)
            free = [n for n in NAMES if n not in s.owner]
            owned = sorted(s.owner)
            extra = list(s.extra)
        roll = rng.random()
        if len(tenants) < 3 or roll < 0.1:
            self._create_tenant(process, f"mt{next(self._tenants)}", self.client)
        elif roll < 0.18:
            # the same new name through two nodes at once: at most one may be acknowledged
            name = f"mt{next(self._tenants)}"
            a, b = rng.sample(self.pinned, 2)
            other = threading.Thread(target=self._create_tenant, args=(process + 50, name, b))
            other.start()
            self._create_tenant(process, name, a)
            other.join(ADMIN_TIMEOUT_S * 3)
        elif roll < 0.45 and free:
            name, tenant = rng.choice(free), rng.choice(tenants)
            outcome, _ = self.invoke(process, "create-dataset", f"{tenant}/{name}", None,
                                     lambda: self.client.admin.create_dataset(
                                         name, tenant=tenant, replication_factor=self.rf,
                                         timeout=ADMIN_TIMEOUT_S) and True)
            if outcome == OK:
                with s.lock:
                    s.owner[name] = tenant
        elif roll < 0.6 and owned:
            name = rng.choice(owned)
            with s.lock:
                tenant = s.owner.pop(name)  # its tenant stops using it before the drop
            outcome, _ = self.invoke(process, "drop-dataset", f"{tenant}/{name}", None,
                                     lambda: self.client.admin.drop_dataset(
                                         name, timeout=ADMIN_TIMEOUT_S) or True)
            if outcome != OK:
                with s.lock:
                    s.owner.setdefault(name, tenant)
        elif roll < 0.8 or not extra:
            tenant = rng.choice(tenants)
            holder: list[str] = []

            def create() -> str:
                secret, info = self.client.admin.create_token(tenant, timeout=ADMIN_TIMEOUT_S)
                holder.append(secret)
                return info.token_id
            outcome, token_id = self.invoke(process, "create-token", tenant, None, create)
            if outcome == OK:
                with s.lock:
                    s.extra.append((tenant, token_id, holder[0]))
        else:
            tenant, token_id, secret = rng.choice(extra)
            with s.lock:
                s.extra.remove((tenant, token_id, secret))
            outcome, _ = self.invoke(process, "revoke-token", token_id, None,
                                     lambda: self.client.admin.revoke_token(
                                         token_id, timeout=ADMIN_TIMEOUT_S) or True)
            if outcome == OK:
                with s.lock:
                    s.revoked.append((secret, token_id, self.env.history.now()))
        self.stop_event.wait(0.2)

    def snapshot_rounds(self, addresses: dict[int, str], bound_s: float = AGREE_BOUND_S) -> None:
        """After healing: every node's metadata, each second, until they agree (bounded)."""
        started = time.monotonic()
        for _ in range(int(bound_s) + 5):
            outcome, views = self.invoke(0, "meta-snapshot", "", None, lambda: {
                f"n{i}": _view(a, self.env.token) for i, a in sorted(addresses.items())})
            if (outcome == OK and not any("error" in v for v in views.values())
                    and len({repr(v) for v in views.values()}) == 1):
                return
            if time.monotonic() - started > bound_s:
                return
            time.sleep(1.0)

    def close(self) -> None:
        super().close()
        for c in self.pinned:
            c.close()


class TenantWorkload(Workload):
    """Each op: a dataset some tenant owns now, written or read with that tenant's token."""

    name = "tenants"
    threads = 2

    def __init__(self, env: Env, first_process: int, shared: Shared) -> None:
        super().__init__(env, first_process)
        self.shared = shared
        self._n = itertools.count()
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def _client(self, tenant: str, token: str) -> Client:
        with self._lock:
            if tenant not in self._clients:
                self._clients[tenant] = make_client(self.env.endpoints, token,
                                                    pinned=self.env.pinned)
            return self._clients[tenant]

    def step(self, process: int, rng: random.Random) -> None:
        with self.shared.lock:
            owned = sorted(self.shared.owner.items())
            tokens = dict(self.shared.tokens)
        if not owned:
            self.stop_event.wait(0.2)
            return
        name, tenant = rng.choice(owned)
        ds = self._client(tenant, tokens[tenant]).dataset(name)
        pkey = f"k{rng.randrange(6)}"
        key = f"{tenant}/{name}/{pkey}"
        if rng.random() < 0.5:
            value = f"{tenant}|{next(self._n)}"
            self.invoke(process, "write", key, value, lambda: ds.put(
                pkey, "", value, consistency=Consistency.QUORUM) and None)
        else:
            def read() -> str | None:
                record = ds.get(pkey, "", consistency=Consistency.QUORUM)
                return None if record is None else record.value.decode()
            self.invoke(process, "read", key, None, read)

    def final_reads(self) -> None:
        """Every key of every dataset owned now, read once with its owner's token."""
        with self.shared.lock:
            owned = sorted(self.shared.owner.items())
            tokens = dict(self.shared.tokens)
        for name, tenant in owned:
            ds = self._client(tenant, tokens[tenant]).dataset(name)
            for k in range(6):
                def read(pkey: str = f"k{k}") -> str | None:
                    record = ds.get(pkey, "", consistency=Consistency.QUORUM, timeout=10)
                    return None if record is None else record.value.decode()
                self.invoke(0, "read", f"{tenant}/{name}/k{k}", None, read)

    def close(self) -> None:
        super().close()
        for c in self._clients.values():
            c.close()


class RevokeProbe(Workload):
    """Tries each revoked token on every node, until the bound (plus a margin) has passed."""

    name = "revoke-probe"
    threads = 1

    def step(self, process: int, rng: random.Random) -> None:
        now = self.env.history.now()
        with self.shared.lock:
            due = [r for r in self.shared.revoked if now < r[2] + REVOKE_BOUND_S + PROBE_EXTRA_S]
        for secret, token_id, _ in due:
            for i, address in enumerate(self.env.endpoints, 1):
                self.invoke(process, "probe", token_id, f"n{i}",
                            lambda: self._probe(address, secret))
        self.stop_event.wait(0.5)

    def __init__(self, env: Env, first_process: int, shared: Shared) -> None:
        super().__init__(env, first_process)
        self.shared = shared

    @staticmethod
    def _probe(address: str, secret: str) -> str:
        with make_client([address], secret, pinned=True, timeout=1.0) as c:
            try:
                c.dataset("probe").get("x", "", consistency=Consistency.ONE)
            except Unauthenticated:
                return "refused"
            except (NotFound, PermissionDenied):
                pass  # past authentication: the token was accepted
        return "accepted"
