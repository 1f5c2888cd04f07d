"""Settings of the social service (``manhattan social serve`` flags map onto these)."""

from __future__ import annotations

from dataclasses import dataclass, field

from manhattan.services.leases import LeaseTiming


@dataclass(frozen=True)
class SocialConfig:
    """What a deployment of the social service may tune."""

    tenant: str = "social"
    namespace: str = "social"
    # Authors with more followers than this are merged into timelines at read.
    celebrity_threshold: int = 10_000
    # Home timelines keep exactly this many newest entries.
    timeline_cap: int = 800
    # A user unseen for this long gets no pushes; the timeline is rebuilt on the next read.
    inactive_after_s: float = 30 * 24 * 3600
    queue_shards: int = 8
    # Followers per fan-out batch (one put_many, split by replica set).
    fanout_batch: int = 500
    # One delivery in this many also trims the follower's timeline.
    trim_every: int = 64
    max_following: int = 5_000
    datacenter: int = 0
    lease: LeaseTiming = field(default_factory=LeaseTiming)
    # How long the cached celebrity set may be stale (another service instance may promote).
    celebrity_cache_s: float = 2.0
    # How often workers look for jobs other processes queued (this process's own wake
    # them at once).
    poll_interval_s: float = 0.5
    # A Snowflake clock step back up to this is waited out (without blocking the event
    # loop); a larger one is refused with ClockMovedBackwards (Unavailable).
    max_clock_back_ms: int = 3_000

    def __post_init__(self) -> None:
        checks = {
            "celebrity_threshold": self.celebrity_threshold >= 1,
            "timeline_cap": 1 <= self.timeline_cap <= 10_000,
            "inactive_after_s": self.inactive_after_s > 0,
            "queue_shards": 1 <= self.queue_shards <= 256,
            "fanout_batch": 1 <= self.fanout_batch <= 1000,
            "trim_every": self.trim_every >= 1,
            "max_following": self.max_following >= 1,
            "datacenter": 0 <= self.datacenter <= 31,
            "max_clock_back_ms": 2 <= self.max_clock_back_ms <= 60_000,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid social service settings: {', '.join(bad)}")
