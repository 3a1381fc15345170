"""What a rollout should do, validated before anything touches the cluster.

Values only (frozen dataclasses and enums) plus the parsing of YAML files and CLI
flags into them. Pure: no I/O except reading the spec file; raises SpecError with a
one-line message naming the field.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A namespaced object name; `str()` is `namespace/name`."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class StrategyKind(enum.Enum):
    """The five strategies; values are the CLI/YAML names."""

    ROLLING = "rolling"
    RECREATE = "recreate"
    BLUEGREEN = "bluegreen"
    CANARY = "canary"
    ISTIO_CANARY = "istio-canary"


class OnInterrupt(enum.Enum):
    """What SIGINT/SIGTERM does to a running rollout."""

    ABORT = "abort"
    LEAVE = "leave"


@dataclass(frozen=True, slots=True)
class ImageChange:
    """Set `container` (None: the only container) to `image`.

    `image` is a full reference, or a bare tag (`tag_only`) that keeps the current
    repository, resolved against the Deployment by the strategy.
    """

    image: str
    container: str | None = None
    tag_only: bool = False


@dataclass(frozen=True, slots=True)
class Check:
    """One analysis check: a PromQL query (or built-in template name) and its pass range."""

    name: str
    query: str | None = None  # None: the built-in template called `name`
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    """How checks are run at each gate (DESIGN §4)."""

    checks: tuple[Check, ...] = ()
    interval: float = 10.0  # seconds between measurements
    count: int = 3  # measurements per gate
    initial_delay: float = 0.0
    failure_limit: int = 0  # failed measurements tolerated
    inconclusive_limit: int = 0  # inconclusive measurements tolerated
    consecutive_error_limit: int = 2  # query errors in a row tolerated


@dataclass(frozen=True, slots=True)
class PrometheusSpec:
    """Where and how to reach Prometheus."""

    url: str | None = None
    bearer_token: str | None = None
    ca_file: str | None = None
    insecure: bool = False


PAUSE_MANUAL = -1.0
"""`Step.pause` value meaning: wait for `rollout promote`."""


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    """A whole rollout request: target, strategy, image, gates and strategy options."""

    target: ObjectRef
    strategy: StrategyKind
    images: tuple[ImageChange, ...] = ()
    timeout: float = 600.0  # readiness wait per step, seconds
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    prometheus: PrometheusSpec = field(default_factory=PrometheusSpec)
    on_interrupt: OnInterrupt = OnInterrupt.ABORT
    dry_run: bool = False
    force: bool = False  # roll out even if the image is unchanged
    wait_for_lock: bool = False
    # rolling / recreate
    batches: tuple[int, ...] = ()  # percentages, increasing, last <= 100
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None
    # canary / istio-canary / bluegreen (issue 4)
    steps: tuple[int, ...] = ()
    pause: float = 0.0  # seconds at each step, or PAUSE_MANUAL
