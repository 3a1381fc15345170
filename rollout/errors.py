"""rollout's error tree; each class carries its exit code (see README "Exit codes").

Pure: no I/O. `ApiException` and `requests` errors never escape kube.py/metrics.py;
they are translated into these, chained with `raise ... from e`.
"""

from __future__ import annotations


class RolloutError(Exception):
    """Base of every error rollout reports; `str()` is the one-line message."""

    exit_code = 5


class TransientError(RolloutError):
    """Mixin: the operation may succeed if retried (kube.py/metrics.py retry these)."""


class SpecError(RolloutError):
    """Bad input: flags, YAML, image reference, check syntax. Nothing was changed."""

    exit_code = 2


class PreconditionError(RolloutError):
    """The cluster is not in a state the command can start from. Nothing was changed."""

    exit_code = 2


class LockHeldError(RolloutError):
    """Another process drives a rollout of this target (its Lease is held)."""

    exit_code = 3

    def __init__(self, message: str, *, holder: str, expires_in: float) -> None:
        super().__init__(message)
        self.holder = holder
        self.expires_in = expires_in


class InfraError(RolloutError):
    """The API or Prometheus stayed unreachable or failing past the retry budget."""

    exit_code = 5


class KubeError(InfraError):
    """A Kubernetes API error, built from the API's Status (code, reason, message)."""

    def __init__(self, message: str, *, code: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class ClusterClosed(KubeError):
    """The Cluster was closed: a background watch still running at the end stops here
    (not retried, not logged as a failure)."""


class NotFound(KubeError):
    """404: the object does not exist."""


class Conflict(KubeError):
    """409: stale resourceVersion, or the object already exists."""


class Forbidden(KubeError):
    """403: RBAC refused the request."""


class Invalid(KubeError):
    """422 (or 400): the API refused the object as invalid."""


class ServerError(KubeError, TransientError):
    """429/5xx or a broken connection: worth retrying."""


class MetricsError(InfraError):
    """A Prometheus query failed (connection, HTTP error, bad query)."""


class TransientMetricsError(MetricsError, TransientError):
    """Prometheus unreachable or 5xx: worth retrying."""


class WaitTimeout(RolloutError):
    """A watch-driven wait passed its deadline; `last` is the last object seen (or None).

    Not an infrastructure failure: the engine turns it into a failed gate (rollback).
    """

    exit_code = 1

    def __init__(self, message: str, *, last: object = None) -> None:
        super().__init__(message)
        self.last = last
