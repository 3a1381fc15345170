"""The Router seam (Flagger's `router.Interface`): how a traffic provider moves requests
between the stable and the canary version. One implementation per file; `for_mesh` in
`rollout.routers` picks one. Pure values here: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from rollout import errors
from rollout.spec import HeaderMatch, ObjectRef


@dataclass(frozen=True, slots=True)
class Weights:
    """Percent of requests to stable and canary: whole numbers in 0..100 summing to 100."""

    stable: int
    canary: int

    def __post_init__(self) -> None:
        values = (self.stable, self.canary)
        if (
            any(isinstance(v, bool) or not isinstance(v, int) for v in values)
            or min(values) < 0
            or sum(values) != 100
        ):
            raise errors.SpecError(
                f"weights {self.stable}/{self.canary}: need whole numbers in 0..100 that sum to 100"
            )

    @classmethod
    def canary_share(cls, percent: int) -> Weights:
        """`percent` to the canary, the rest to stable."""
        return cls(100 - percent, percent)

    def __str__(self) -> str:
        return f"{self.stable}/{self.canary}"


ALL_STABLE = Weights(100, 0)


@dataclass(frozen=True, slots=True)
class Routing:
    """What a router routes: a Service's host between the stable and canary pods.

    `canary_labels` are pod labels only canary pods carry (the canary Deployment's
    selector). The names pick the user's routing objects (None: discover them);
    `create` lets the router create what is missing, owned by rollout.
    """

    service: ObjectRef
    stable: ObjectRef  # the user's Deployment
    canary: ObjectRef  # the `<name>-canary` Deployment
    canary_labels: Mapping[str, str] = field(default_factory=dict)
    virtual_service: str | None = None
    destination_rule: str | None = None
    create: bool = False


class Router(Protocol):
    """Moves traffic for one Routing. Every method is idempotent.

    Call order: `prepare` (read-only, before anything is written: checks the routing
    and remembers the user's shape for `restore`), `ensure`, then `set_weights` any
    number of times, `restore` at the end (or on the way back).
    """

    def prepare(self) -> None:
        """Find the routing objects and record the user's shape; raise PreconditionError
        when they cannot be used. Writes nothing."""
        ...

    def ensure(self) -> None:
        """Create/adapt the routing objects so weights can be set; sends no request to
        the canary (weights stay as they are, 100/0 when first converted)."""
        ...

    def set_weights(
        self, weights: Weights, *, match_header: HeaderMatch | None = None, mirror: int = 0
    ) -> None:
        """Split requests `weights` in one write (none when already so); with
        `match_header`, matching requests go to the canary; `mirror` % are copied to it."""
        ...

    def get_weights(self) -> Weights:
        """The split as the provider has it now (100/0 when not converted)."""
        ...

    def restore(self) -> None:
        """Put back the user's shape (and remove objects rollout created)."""
        ...
