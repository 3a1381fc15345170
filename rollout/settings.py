"""Tunables with production defaults; tests pass faster ones. Pure data, no I/O.

Passed explicitly (never global) to Cluster, the metrics provider, the lock and the engine.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
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

    retry: RetrySettings = RetrySettings()  # Kubernetes API calls
    # Prometheus: shorter, since analysis itself tolerates errors (consecutiveErrorLimit)
    metrics_retry: RetrySettings = RetrySettings(deadline=10.0)
    lease_duration: float = 15.0  # seconds a lock holder may be silent before takeover
    lease_renew: float = 5.0  # the holder renews this often
    watch_timeout: float = 60.0  # longest single watch request before re-watching
    field_manager: str = "rollout"
    user_agent: str = "rollout"


ENV = {
    "ROLLOUT_LEASE_DURATION": "lease_duration",
    "ROLLOUT_LEASE_RENEW": "lease_renew",
    "ROLLOUT_WATCH_TIMEOUT": "watch_timeout",
}
ENV_RETRY = {
    "ROLLOUT_API_RETRY_DEADLINE": "retry",
    "ROLLOUT_METRICS_RETRY_DEADLINE": "metrics_retry",
}


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, with the ROLLOUT_* tunables above taken from the environment (seconds)."""
    env = os.environ if environ is None else environ
    settings = Settings()
    changes: dict[str, object] = {}
    for var, name in ENV.items():
        if env.get(var):
            changes[name] = float(env[var])
    for var, name in ENV_RETRY.items():
        if env.get(var):
            changes[name] = dataclasses.replace(getattr(settings, name), deadline=float(env[var]))
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


FAST = Settings(
    retry=RetrySettings(initial=0.0, maximum=0.0, jitter=0.0, deadline=5.0, request_timeout=5.0),
    metrics_retry=RetrySettings(
        initial=0.0, maximum=0.0, jitter=0.0, deadline=2.0, request_timeout=5.0
    ),
    lease_duration=2.0,
    lease_renew=0.5,
    watch_timeout=5.0,
)
"""Settings for tests: zero backoff, short leases."""
