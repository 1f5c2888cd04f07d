"""Home timelines: every acknowledged post reaches the home timeline of its author and of
every follower, and nothing else is there.

Ops (workload ``social``): ``create-user`` (key = user), ``follow`` (value =
``{"follower", "followee"}``), ``post`` (invoke value ``{"author", "text"}``, texts
unique; ok value ``{"id", "author", "text"}``), ``user`` (ok value ``{"celebrity", ...}``:
which delivery path an author's posts take), ``home-page`` (ok value = the entries
``[id, author, text]`` of a first page read under load) and ``home`` (ok value = the
whole home timeline of ``key``, walked with the cursor after healing and the fan-out
drain; the last ok walk per user counts).

The follow graph is the ``follow`` edges acknowledged; a follow never acknowledged is
"uncertain" and its author is neither expected nor forbidden in that timeline. (The
harness makes the graph before the faults and never changes it; a graph that changes
during the run would need the edge's history per post.)

Failures: ``lost`` (an acked post of u or of someone u follows, missing from u's final
walk), ``phantom`` (an entry whose text no post attempted, whose author or id differs
from the post's, or that was read before its post was invoked), ``unfollowed`` (an
entry by an author u does not follow), ``duplicates`` (one tweet twice in a walk),
``misordered`` (ids not strictly descending in a walk), a user without a final walk.
Reported apart: ``recovered`` (indeterminate posts that landed), ``failed_present``
(posts rejected before any write, present anyway: a broken error contract).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from jepsen.history import FAIL, INFO, OK, Op, pairs


def _path(user: str, author: str, celebrity: dict[str, bool]) -> str:
    if author == user:
        return "own"
    if author not in celebrity:
        return "unknown"
    return "merge-at-read" if celebrity[author] else "push"


def check_timelines(ops: Iterable[Op], *, sample: int = 20) -> dict[str, Any]:
    """Compare the acknowledged posts and follows with the final home timelines."""
    ps = pairs(list(ops))
    users = {p.invoke.key for p in ps if p.invoke.f == "create-user" and p.type == OK}
    edges: set[tuple[str, str]] = set()
    tried: set[tuple[str, str]] = set()
    for p in ps:
        if p.invoke.f == "follow":
            edge = (str(p.invoke.value["follower"]), str(p.invoke.value["followee"]))
            tried.add(edge)
            if p.type == OK:
                edges.add(edge)
    uncertain = tried - edges
    celebrity: dict[str, bool] = {}
    for p in ps:  # the latest ok profile read wins
        if p.invoke.f == "user" and p.type == OK and p.complete is not None:
            celebrity[p.invoke.key] = bool(p.complete.value.get("celebrity"))

    posts: dict[str, dict[str, Any]] = {}  # text -> author, outcome, id, invoked
    for p in ps:
        if p.invoke.f != "post":
            continue
        text = str(p.invoke.value["text"])
        post = {"author": str(p.invoke.value["author"]), "outcome": p.type, "id": None,
                "invoked": p.invoke.time}
        if p.type == OK and p.complete is not None:
            post["id"] = int(p.complete.value["id"])
        posts[text] = post
    acked = {t: p for t, p in posts.items() if p["outcome"] == OK}

    phantom: list[dict[str, Any]] = []
    unfollowed: list[dict[str, Any]] = []
    failed_present: set[str] = set()
    recovered: set[str] = set()

    def judge(user: str, entries: list[list[Any]], read_at: float, where: str) -> None:
        for tweet_id, author, text in entries:
            post = posts.get(text)
            entry = {"user": user, "id": tweet_id, "author": author, "text": text, "in": where}
            if post is None:
                phantom.append({**entry, "why": "never posted"})
                continue
            if post["author"] != author:
                phantom.append({**entry, "why": f"posted by {post['author']}"})
            elif post["id"] is not None and post["id"] != tweet_id:
                phantom.append({**entry, "why": f"acked with id {post['id']}"})
            elif post["invoked"] > read_at:
                phantom.append({**entry, "why": "read before it was posted"})
            if post["outcome"] == FAIL:
                failed_present.add(text)
            elif post["outcome"] == INFO:
                recovered.add(text)
            if author != user and (user, author) not in edges | uncertain:
                unfollowed.append(entry)

    walks: dict[str, list[list[Any]]] = {}
    pages = 0
    for p in ps:
        if p.type != OK or p.complete is None:
            continue
        if p.invoke.f == "home":
            walks[p.invoke.key] = p.complete.value
            judge(p.invoke.key, p.complete.value, p.complete.time, "final walk")
        elif p.invoke.f == "home-page":
            pages += 1
            judge(p.invoke.key, p.complete.value, p.complete.time, "page under load")

    lost: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    misordered: list[dict[str, Any]] = []
    expected_by_path: Counter[str] = Counter()
    lost_by_path: Counter[str] = Counter()
    missing_walks = sorted(users - set(walks))
    for user, entries in sorted(walks.items()):
        ids = [e[0] for e in entries]
        texts = {e[2] for e in entries}
        for tweet_id, n in Counter(ids).items():
            if n > 1:
                duplicates.append({"user": user, "id": tweet_id, "times": n})
        misordered += [{"user": user, "at": i, "ids": [a, b]}
                       for i, (a, b) in enumerate(zip(ids, ids[1:])) if a <= b]
        for text, post in acked.items():
            author = post["author"]
            if author != user and (user, author) not in edges:
                continue
            path = _path(user, author, celebrity)
            expected_by_path[path] += 1
            if text not in texts:
                lost_by_path[path] += 1
                lost.append({"user": user, "text": text, "id": post["id"], "author": author,
                             "path": path})
    outcome = Counter(p["outcome"] for p in posts.values())
    valid = not (lost or phantom or unfollowed or duplicates or misordered or missing_walks) \
        and bool(walks)
    return {
        "valid": valid,
        "users": len(users), "follows": len(edges), "follows_uncertain": len(uncertain),
        "celebrities": sorted(u for u, c in celebrity.items() if c),
        "posts_attempted": len(posts), "posts_acked": outcome[OK],
        "posts_failed": outcome[FAIL], "posts_indeterminate": outcome[INFO],
        "walks": len(walks), "walked_entries": sum(len(w) for w in walks.values()),
        "pages_read_under_load": pages, "missing_walks": missing_walks,
        "expected_deliveries": sum(expected_by_path.values()),
        "expected_by_path": dict(expected_by_path), "lost_by_path": dict(lost_by_path),
        "lost_count": len(lost), "lost": lost[:sample],
        "phantom_count": len(phantom), "phantom": phantom[:sample],
        "unfollowed_count": len(unfollowed), "unfollowed": unfollowed[:sample],
        "duplicate_count": len(duplicates), "duplicates": duplicates[:sample],
        "misordered_count": len(misordered), "misordered": misordered[:sample],
        "recovered_count": len(recovered),
        "failed_present_count": len(failed_present),
        "failed_present": sorted(failed_present)[:sample],
    }
