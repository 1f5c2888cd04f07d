"""The sample network loads through the batch path into exactly what the service itself
would have written: every user's home timeline and counts read as the model says, with
progress reported per stage up to its total."""

from __future__ import annotations

from collections import defaultdict

from manhattan.services import sample
from tests.services.conftest import all_home, fresh_config, running_social


def test_bulk_loaded_network_reads_like_a_fanned_out_one(social_cluster, loop_thread):
    config = fresh_config(celebrity_threshold=12, timeline_cap=6)
    network = sample.generate(40, seed=3, mean_following=6, stars=2, star_followers=0.5)
    tweets = sample.sample_tweets(network, 120, seed=5)
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        seen: dict[str, list[tuple[int, int]]] = defaultdict(list)

        def progress(stage: str, done: int, total: int) -> None:
            seen[stage].append((done, total))
        run(sample.load(social, network, on_progress=progress))
        ids = run(social.next_ids(len(tweets)))
        stored = run(sample.load_tweets(social, network, tweets, ids, on_progress=progress))

        assert list(seen) == ["users", "follows", "counts", "tweets", "timelines",
                              "tweet counts"]
        for stage, steps in seen.items():
            dones = [d for d, _ in steps]
            assert dones == sorted(dones) and dones[0] == 0, stage
            assert steps[-1][0] == steps[-1][1] > 0, stage  # ends at its total

        followees: dict[str, set[str]] = defaultdict(set)
        for follower, followee in network.edges:
            followees[follower].add(followee)
        celebrities = {n for n, c in network.followers().items() if c > 12}
        assert celebrities  # the model covers merged-at-read authors too
        assert max(len(v) for v in followees.values()) > 0
        for user in network.users[:25]:
            expected = sorted((t.id for t in stored
                               if t.author == user or t.author in followees[user]),
                              reverse=True)
            assert run(all_home(social, user, 4)) == expected, user
        capped = [u for u in network.users
                  if len(run(social.home.newest(u, below=1 << 63, floor=-1, limit=50))) > 6]
        assert capped == []  # home timelines were written capped, like a trim
        assert run(social.get_user(network.users[0])).celebrity == (network.users[0]
                                                                    in celebrities)
        followers = network.followers()
        for user in network.users[:10]:  # the counts, as counters
            profile = run(social.get_user(user))
            assert (profile.followers, profile.following, profile.tweets) == (
                followers[user], len(followees[user]),
                sum(t.author == user for t in stored)), user
