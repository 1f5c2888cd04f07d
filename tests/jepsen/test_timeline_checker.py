"""The home-timeline checker on hand-made histories: a valid one passes, and each kind of
violation (lost, phantom, unfollowed, duplicate, misordered, missing walk) is caught."""

from __future__ import annotations

from typing import Any

from jepsen.checkers.timeline import check_timelines
from jepsen.history import build

# alice follows bob (pushed) and carol (a celebrity: merged at read); dave follows nobody
GRAPH = [("alice", "bob"), ("alice", "carol")]


def _history(walks: dict[str, list[list[Any]]], *, pages: list[tuple[str, list[list[Any]]]] = (),
             extra_posts: list[tuple[int, str, str, str, int | None]] = ()) -> list:
    events: list[tuple[int, str, str, str, Any]] = []
    for user in ("alice", "bob", "carol", "dave"):
        events += [(0, "invoke", "create-user", user, None), (0, "ok", "create-user", user, {})]
    for a, b in GRAPH:
        edge = {"follower": a, "followee": b}
        events += [(0, "invoke", "follow", a, edge), (0, "ok", "follow", a, True)]
    # an uncertain follow: dave -> bob timed out (bob's posts neither expected nor forbidden)
    events += [(0, "invoke", "follow", "dave", {"follower": "dave", "followee": "bob"}),
               (0, "info", "follow", "dave", None)]
    for user, celebrity in (("alice", False), ("bob", False), ("carol", True), ("dave", False)):
        events += [(0, "invoke", "user", user, None),
                   (0, "ok", "user", user, {"celebrity": celebrity})]
    posts = [(1, "bob", "b1", "ok", 10), (1, "carol", "c1", "ok", 20),
             (2, "alice", "a1", "ok", 30), (2, "bob", "b2", "info", None),
             (1, "bob", "b3", "fail", None), (2, "dave", "d1", "ok", 40)]

    def post(process: int, author: str, text: str, outcome: str, tweet_id: int | None) -> None:
        events.append((process, "invoke", "post", author, {"author": author, "text": text}))
        events.append((process, outcome, "post", author,
                       {"id": tweet_id, "author": author, "text": text} if outcome == "ok"
                       else {"author": author, "text": text}))
    for p in posts:
        post(*p)
    for user, entries in pages:
        events += [(3, "invoke", "home-page", user, None), (3, "ok", "home-page", user, entries)]
    for p in extra_posts:  # after the pages under load
        post(*p)
    for user, entries in walks.items():
        events += [(0, "invoke", "home", user, None), (0, "ok", "home", user, entries)]
    return build(events, workload="social")


def _good() -> dict[str, list[list[Any]]]:
    return {
        "alice": [[30, "alice", "a1"], [20, "carol", "c1"], [10, "bob", "b1"]],
        "bob": [[10, "bob", "b1"]],
        "carol": [[20, "carol", "c1"]],
        "dave": [[40, "dave", "d1"]],
    }


def test_valid_history_passes_and_counts_each_delivery_path() -> None:
    r = check_timelines(_history(_good()))
    assert r["valid"], r
    assert r["posts_acked"] == 4 and r["posts_indeterminate"] == 1 and r["posts_failed"] == 1
    # alice: own a1, pushed b1, merged c1; bob, carol, dave: their own
    assert r["expected_by_path"] == {"own": 4, "push": 1, "merge-at-read": 1}
    assert r["lost_count"] == r["phantom_count"] == r["unfollowed_count"] == 0
    assert r["celebrities"] == ["carol"] and r["follows_uncertain"] == 1


def test_indeterminate_post_present_is_recovered_and_uncertain_follow_tolerated() -> None:
    walks = _good()
    walks["alice"].insert(0, [35, "bob", "b2"])  # b2 was info: it may have happened
    walks["dave"].append([10, "bob", "b1"])  # dave's follow of bob is uncertain
    r = check_timelines(_history(walks))
    assert r["valid"], r
    assert r["recovered_count"] == 1


def test_lost_acked_post_is_caught_with_its_path() -> None:
    walks = _good()
    walks["alice"] = [[30, "alice", "a1"], [10, "bob", "b1"]]  # the celebrity's c1 is missing
    r = check_timelines(_history(walks))
    assert not r["valid"] and r["lost_count"] == 1
    assert r["lost"][0] == {"user": "alice", "text": "c1", "id": 20, "author": "carol",
                            "path": "merge-at-read"}
    walks = _good()
    walks["bob"] = []  # the author's own timeline misses its post
    r = check_timelines(_history(walks))
    assert not r["valid"] and r["lost_by_path"] == {"own": 1}


def test_phantoms_are_caught() -> None:
    for bad, why in (([50, "bob", "zz"], "never posted"),
                     ([10, "carol", "b1"], "posted by bob"),
                     ([11, "bob", "b1"], "acked with id 10")):
        walks = _good()
        walks["alice"].append(bad)
        walks["alice"].sort(key=lambda e: -e[0])
        r = check_timelines(_history(walks))
        assert not r["valid"] and r["phantom_count"] >= 1, (bad, r)
        assert any(p["why"] == why for p in r["phantom"]), (bad, r["phantom"])


def test_entry_read_before_its_post_was_invoked_is_a_phantom() -> None:
    # the page under load (read before post "late" is invoked) already shows it
    history = _history(_good(), pages=[("alice", [[99, "bob", "late"]])],
                       extra_posts=[(4, "bob", "late", "info", None)])
    r = check_timelines(history)
    assert not r["valid"]
    assert [p["why"] for p in r["phantom"]] == ["read before it was posted"]


def test_failed_post_present_is_reported_not_failed() -> None:
    walks = _good()
    walks["bob"].insert(0, [15, "bob", "b3"])  # b3 was rejected before any write
    r = check_timelines(_history(walks))
    assert r["valid"] and r["failed_present"] == ["b3"]


def test_unfollowed_author_duplicate_and_misorder_are_caught() -> None:
    walks = _good()
    walks["carol"].insert(0, [30, "alice", "a1"])  # carol does not follow alice
    r = check_timelines(_history(walks))
    assert not r["valid"] and r["unfollowed_count"] == 1
    assert r["unfollowed"][0]["user"] == "carol"

    walks = _good()
    walks["alice"].append([10, "bob", "b1"])  # the cursor handed out b1 twice
    r = check_timelines(_history(walks))
    assert not r["valid"] and r["duplicate_count"] == 1 and r["misordered_count"] == 1

    walks = _good()
    walks["alice"] = [[20, "carol", "c1"], [30, "alice", "a1"], [10, "bob", "b1"]]
    r = check_timelines(_history(walks))
    assert not r["valid"] and r["misordered_count"] == 1 and r["duplicate_count"] == 0


def test_a_user_without_a_final_walk_fails() -> None:
    walks = _good()
    del walks["dave"]
    r = check_timelines(_history(walks))
    assert not r["valid"] and r["missing_walks"] == ["dave"]
    assert not check_timelines(_history({}))["valid"]
