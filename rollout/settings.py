"""Tunables with production defaults; tests pass faster ones. Pure data, no I/O.

Passed explicitly (never global) to Cluster, the metrics provider, the lock and the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "rollout.dev"


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Retry budget for API and Prometheus calls."""

    initial: float = 0.2  # first backoff, seconds
    maximum: float = 5.0  # largest single backoff
    jitter: float = 0.2
    deadline: float = 60.0  # give up (InfraError, exit 5) after this long in total
    request_timeout: float = 15.0  # one HTTP request


@dataclass(frozen=True, slots=True)
class Settings:
    """All tunables of one rollout process."""

    retry: RetrySettings = RetrySettings()
    lease_duration: float = 15.0  # seconds a lock holder may be silent before takeover
    lease_renew: float = 5.0  # the holder renews this often
    watch_timeout: float = 60.0  # longest single watch request before re-watching
    field_manager: str = "rollout"
    user_agent: str = "rollout"


FAST = Settings(retry=RetrySettings(initial=0.0, maximum=0.0, jitter=0.0, deadline=5.0,
                                    request_timeout=5.0),
                lease_duration=2.0, lease_renew=0.5, watch_timeout=5.0)
"""Settings for tests: zero backoff, short leases."""
