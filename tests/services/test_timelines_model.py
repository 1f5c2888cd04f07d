"""Home timelines against a model: random follows, unfollows, posts, deletes, celebrities.

After the fan-out queue drains, every user's home timeline, walked page by
page, must equal the model's merged view: every live tweet of the user and of
everyone they follow, newest first. A tiny cap (4) with trimming on every
delivery and a celebrity threshold of 2 make every path run: pushes, trims
and floors, merges at read, and reads past the stored part.
"""

from __future__ import annotations

import itertools

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, \
    rule, run_state_machine_as_test

from tests.services.conftest import all_home, fresh_config, running_social

_examples = itertools.count(1)
LETTERS = "abcde"


class TimelineMachine(RuleBasedStateMachine):
    social = None
    runner = None

    @initialize()
    def create_users(self) -> None:
        prefix = f"m{next(_examples)}"
        self.users = [f"{prefix}{letter}" for letter in LETTERS]
        self.following: dict[str, set[str]] = {u: set() for u in self.users}
        self.tweets: dict[int, str] = {}
        for user in self.users:
            self.run(self.social.create_user(user))
        # A fixed start that makes every example cover the rare paths: c passes the
        # celebrity threshold (3 followers > 2), and b posts past a's cap of 4 (trims).
        a, b, c, d, _ = self.users
        for follower in (a, b, d):
            self.follow_names(follower, c)
        self.follow_names(a, b)
        for _ in range(6):
            self.post_as(b)

    def run(self, coro):
        return self.runner.run(coro)

    def post_as(self, author: str) -> None:
        tweet = self.run(self.social.post(author, "hello"))
        self.tweets[tweet.id] = author

    def follow_names(self, follower: str, followee: str) -> None:
        changed = self.run(self.social.follow(follower, followee))
        assert changed == (followee not in self.following[follower])
        self.following[follower].add(followee)

    @rule(author=st.integers(0, 4), count=st.integers(1, 3))
    def post(self, author: int, count: int) -> None:
        for _ in range(count):
            self.post_as(self.users[author])

    @precondition(lambda self: self.tweets)
    @rule(data=st.data())
    def delete(self, data) -> None:
        tweet_id = data.draw(st.sampled_from(sorted(self.tweets)))
        self.run(self.social.delete_tweet(tweet_id))
        del self.tweets[tweet_id]

    @rule(a=st.integers(0, 4), b=st.integers(0, 4))
    def follow(self, a: int, b: int) -> None:
        if a != b:
            self.follow_names(self.users[a], self.users[b])

    @rule(a=st.integers(0, 4), b=st.integers(0, 4))
    def unfollow(self, a: int, b: int) -> None:
        if a == b:
            return
        changed = self.run(self.social.unfollow(self.users[a], self.users[b]))
        assert changed == (self.users[b] in self.following[self.users[a]])
        self.following[self.users[a]].discard(self.users[b])

    def model_view(self, user: str) -> list[int]:
        authors = self.following[user] | {user}
        return sorted((i for i, a in self.tweets.items() if a in authors), reverse=True)

    @rule(page_size=st.integers(1, 5))
    def check_after_drain(self, page_size: int) -> None:
        self.run(self.social.drain())
        for user in self.users:
            assert self.run(all_home(self.social, user, page_size)) == self.model_view(user), user

    @invariant()
    def counts_match(self) -> None:
        if not hasattr(self, "users"):
            return
        user = self.users[0]
        profile = self.run(self.social.get_user(user))
        assert profile.following == len(self.following[user])
        assert profile.followers == sum(user in f for f in self.following.values())

    def teardown(self) -> None:
        if hasattr(self, "users"):
            self.check_after_drain(3)


def test_home_timelines_equal_the_model(social_cluster, loop_thread):
    config = fresh_config(celebrity_threshold=2, timeline_cap=4, trim_every=1, fanout_batch=2)
    with running_social(social_cluster, loop_thread, config) as social:
        # Ask about followees one by one, as for users who follow more than a page
        # (the whole-list scan is what every other test here takes).
        social.graph.scan_following_up_to = 0
        TimelineMachine.social, TimelineMachine.runner = social, loop_thread
        run_state_machine_as_test(TimelineMachine, settings=settings(
            max_examples=6, stateful_step_count=20, deadline=None))
        assert social.home.trims > 0  # the cap was exercised
        assert len(loop_thread.run(social.graph.celebrities())) >= 6  # one per example
