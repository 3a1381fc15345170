"""The rollout record (a JSON annotation on the target Deployment) and the Lease lock.

Everything `status`, `promote`, `abort` and `resume` need is in the record, so any
process can continue a rollout. The record is pure (de)serialisation; the engine
writes it. Phase changes are checked against the legal transitions. The Lock holds
`rollout-<name>` (coordination.k8s.io/v1 Lease) through kube.Cluster.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import structlog

from rollout import errors, record_size
from rollout.settings import PREFIX
from rollout.spec import RolloutSpec, StrategyKind

log = structlog.get_logger(__name__)

ANNOTATION = f"{PREFIX}/rollout"
REQUEST_ANNOTATION = f"{PREFIX}/request"  # written by `promote`/`abort`, cleared by the driver
SCHEMA = 1


class Phase(enum.Enum):
    """Where a rollout is; the last three are terminal."""

    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    ABORTING = "Aborting"
    SUCCEEDED = "Succeeded"
    ABORTED = "Aborted"
    FAILED = "Failed"

    @property
    def is_terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.ABORTED, Phase.FAILED)


LEGAL: dict[Phase, frozenset[Phase]] = {
    Phase.PROGRESSING: frozenset(
        {
            Phase.PAUSED,
            Phase.PROMOTING,
            Phase.ABORTING,
            Phase.SUCCEEDED,
            Phase.FAILED,
            Phase.PROGRESSING,
        }
    ),
    Phase.PAUSED: frozenset({Phase.PROGRESSING, Phase.PROMOTING, Phase.ABORTING}),
    # Promoting -> Promoting: a resume after `complete()` failed runs it again
    Phase.PROMOTING: frozenset(
        {Phase.SUCCEEDED, Phase.ABORTING, Phase.PROGRESSING, Phase.PROMOTING}
    ),
    Phase.ABORTING: frozenset({Phase.ABORTED, Phase.FAILED}),
    Phase.SUCCEEDED: frozenset(),
    Phase.ABORTED: frozenset(),
    Phase.FAILED: frozenset(),
}


class Request(enum.Enum):
    """What another process asked the driving process to do."""

    NONE = "none"
    PROMOTE = "promote"  # go past the current pause
    PROMOTE_FULL = "promote-full"  # no more pauses: run the remaining steps through
    ABORT = "abort"


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class StepRecord:
    """One step as it happened: timings, traffic, analysis measurements, outcome."""

    name: str
    started: str | None = None
    finished: str | None = None
    outcome: str = "pending"  # pending, running, passed, failed, paused, skipped
    weight: int | None = None  # requested traffic share to the new version (%)
    achieved: float | None = None  # measured share (%), where the strategy can tell
    measurements: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    trimmed: int = 0  # measurements left out of the stored record (record_size.BUDGET)


@dataclass(slots=True)
class RolloutRecord:
    """The rollout record stored in the `<prefix>/rollout` annotation."""

    strategy: StrategyKind
    spec: RolloutSpec
    phase: Phase = Phase.PROGRESSING
    step: int = 0  # index of the step being worked on
    steps: list[StepRecord] = field(default_factory=list)
    target_images: dict[str, str] = field(default_factory=dict)
    previous_images: dict[str, str] = field(default_factory=dict)
    previous_template: dict[str, Any] = field(default_factory=dict)
    previous_revision: str = ""
    final_revision: str = ""  # the target's revision once over (promoted or rolled back)
    saved: dict[str, Any] = field(default_factory=dict)  # strategy's originals to restore
    skip_pauses: bool = False  # `promote --full`: run the remaining steps without pausing
    message: str = ""
    started: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    finished: str | None = None

    def move_to(self, phase: Phase, message: str = "") -> None:
        """Change phase, refusing illegal transitions (a bug, not user error)."""
        if phase not in LEGAL[self.phase]:
            raise errors.PreconditionError(
                f"rollout record: cannot go from {self.phase.value} to {phase.value}"
            )
        self.phase = phase
        if message:
            self.message = message
        self.updated = now_iso()
        if phase.is_terminal:
            self.finished = self.updated

    def to_annotation(self) -> str:
        """Versioned JSON for the annotation."""
        body = {
            "schema": SCHEMA,
            "strategy": self.strategy.value,
            "phase": self.phase.value,
            "step": self.step,
            "steps": [dataclasses.asdict(s) for s in self.steps],
            "targetImages": self.target_images,
            "previousImages": self.previous_images,
            "previousTemplate": self.previous_template,
            "previousRevision": self.previous_revision,
            "finalRevision": self.final_revision,
            "saved": self.saved,
            "skipPauses": self.skip_pauses,
            "message": self.message,
            "started": self.started,
            "updated": self.updated,
            "finished": self.finished,
            "spec": spec_to_json(self.spec),
        }
        return record_size.fit(body)

    @classmethod
    def from_annotation(cls, text: str) -> RolloutRecord:
        """Parse the annotation; a record of another schema is refused with a clear message."""
        try:
            body = json.loads(text)
            if body.get("schema") != SCHEMA:
                raise errors.PreconditionError(
                    f"rollout record schema {body.get('schema')} is not supported (want {SCHEMA}); "
                    "upgrade rollout"
                )
            return cls(
                strategy=StrategyKind(body["strategy"]),
                spec=spec_from_json(body["spec"]),
                phase=Phase(body["phase"]),
                step=int(body["step"]),
                steps=[StepRecord(**s) for s in record_size.expand(body["steps"])],
                target_images=dict(body["targetImages"]),
                previous_images=dict(body["previousImages"]),
                previous_template=dict(body["previousTemplate"]),
                previous_revision=str(body["previousRevision"]),
                final_revision=str(body.get("finalRevision", "")),
                saved=dict(body["saved"]),
                skip_pauses=bool(body.get("skipPauses", False)),
                message=str(body["message"]),
                started=str(body["started"]),
                updated=str(body["updated"]),
                finished=body.get("finished"),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise errors.PreconditionError(
                f"rollout record annotation {ANNOTATION} is "
                f"unreadable ({e}); remove it to start over"
            ) from e


def read_record(deployment: dict[str, Any]) -> RolloutRecord | None:
    """The record on a Deployment, or None when it has none."""
    text = (deployment["metadata"].get("annotations") or {}).get(ANNOTATION)
    return RolloutRecord.from_annotation(text) if text else None


def read_request(deployment: dict[str, Any]) -> Request:
    """The pending request another process left on the Deployment (NONE if none)."""
    text = (deployment["metadata"].get("annotations") or {}).get(REQUEST_ANNOTATION)
    try:
        return Request(text) if text else Request.NONE
    except ValueError:
        return Request.NONE


def spec_to_json(spec: RolloutSpec) -> dict[str, Any]:
    """The spec as plain JSON (enums by value). Secrets are left out: a bearer token
    must not land in an annotation anyone with `get deployments` can read."""
    body = _plain(spec)
    body["prometheus"]["bearer_token"] = None
    return body  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def spec_from_json(body: dict[str, Any]) -> RolloutSpec:
    """Inverse of `spec_to_json` (keys unknown to this version are ignored)."""
    return typing.cast(RolloutSpec, _build(RolloutSpec, body))


def _build(tp: Any, value: Any) -> Any:
    """Rebuild a value of type `tp` (dataclass, enum, tuple, optional) from plain JSON."""
    if value is None:
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        for candidate in inner:
            if dataclasses.is_dataclass(candidate) or (
                isinstance(candidate, type) and issubclass(candidate, enum.Enum)
            ):
                return _build(candidate, value)
        return value
    if origin is tuple:
        return tuple(_build(args[0], v) for v in value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        return tp(**{k: _build(hints[k], v) for k, v in value.items() if k in known})
    return value
