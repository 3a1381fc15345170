"""`rollout status`: the record as a human summary or JSON, including what the next
action will do. Formatting only; the record comes from the engine.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import IO, Any

from rollout import deployments
from rollout.spec import PAUSE_MANUAL, ObjectRef
from rollout.state import Phase, RolloutRecord, StepRecord, spec_to_json


def next_action(record: RolloutRecord) -> str:
    """What happens next, in one sentence."""
    if record.phase is Phase.PAUSED:
        nxt = record.step + 1
        then = "(+ `rollout resume` if no process waits at the pause)"
        if nxt < len(record.steps):
            return (
                f"`rollout promote {record.spec.target.name}` goes on to "
                f"{record.steps[nxt].name}{_share(record.steps[nxt].weight)} {then}; "
                "`--full` runs the rest without pausing; `rollout abort` rolls back"
            )
        return f"`rollout promote {record.spec.target.name}` finishes the rollout {then}"
    if record.phase in (Phase.PROGRESSING, Phase.PROMOTING):
        return "a process is driving this rollout (or `rollout resume` continues it)"
    if record.phase is Phase.ABORTING:
        return "rolling back (`rollout resume` finishes the rollback if it stopped)"
    return "nothing: the rollout is over"


def current_traffic(record: RolloutRecord) -> StepRecord | None:
    """The step whose traffic split is in place now: the current one once it has started,
    else the last one before it that set a weight (None once the rollout is over)."""
    if record.phase.is_terminal:
        return None
    started = [
        s
        for i, s in enumerate(record.steps)
        if s.weight is not None and (i < record.step or (i == record.step and s.started))
    ]
    return started[-1] if started else None


def status_json(target: ObjectRef, record: RolloutRecord | None) -> dict[str, Any]:
    if record is None:
        return {"target": str(target), "rollout": None}
    return {
        "target": str(target),
        "strategy": record.strategy.value,
        "phase": record.phase.value,
        "step": record.step,
        "message": record.message,
        "next": next_action(record),
        "traffic": _traffic_json(record),
        "images": {"previous": record.previous_images, "target": record.target_images},
        "previousRevision": record.previous_revision,
        "finalRevision": record.final_revision or None,
        "started": record.started,
        "updated": record.updated,
        "finished": record.finished,
        "manualPause": record.spec.pause == PAUSE_MANUAL,
        "spec": spec_to_json(record.spec),
        "steps": [
            {
                "name": s.name,
                "outcome": s.outcome,
                "weight": s.weight,
                "achieved": s.achieved,
                "message": s.message,
                "measurements": s.measurements,
                "trimmed": s.trimmed,
            }
            for s in record.steps
        ],
    }


def print_status(
    target: ObjectRef, record: RolloutRecord | None, *, output: str, stream: IO[str] | None = None
) -> None:
    """Write the status to stdout (or `stream`)."""
    out = stream or sys.stdout
    if output == "json":
        out.write(json.dumps(status_json(target, record), indent=2) + "\n")
        return
    if record is None:
        out.write(f"Deployment {target}: no rollout recorded\n")
        return
    out.write(f"Deployment {target}: {record.strategy.value} rollout {record.phase.value}\n")
    out.write(f"  images:  {_images(record.previous_images)} -> {_images(record.target_images)}\n")
    if record.steps and not record.phase.is_terminal:
        current = record.steps[min(record.step, len(record.steps) - 1)]
        out.write(f"  step:    {record.step + 1}/{len(record.steps)} {current.name}\n")
    now = current_traffic(record)
    if now is not None:
        seen = "not measured" if now.achieved is None else f"{now.achieved:.1f}%"
        out.write(
            f"  traffic: requested {now.weight}%, achieved {seen} to the new version ({now.name})\n"
        )
    if record.message:
        out.write(f"  message: {record.message}\n")
    for i, step in enumerate(record.steps):
        mark = ">" if i == record.step and not record.phase.is_terminal else " "
        share = f" {step.weight}%" if step.weight is not None else ""
        seen = f" (seen {step.achieved:.0f}%)" if step.achieved is not None else ""
        out.write(
            f"  {mark} {i + 1}. {step.name}{share}{seen}: {step.outcome}"
            f"{' - ' + step.message if step.message else ''}\n"
        )
        for m in step.measurements[-4:]:
            out.write(f"       {m.get('check')}: {m.get('value')} ({m.get('outcome')})\n")
    out.write(f"  next:    {next_action(record)}\n")


def _traffic_json(record: RolloutRecord) -> dict[str, Any] | None:
    now = current_traffic(record)
    if now is None:
        return None
    return {"step": now.name, "requested": now.weight, "achieved": now.achieved}


def _share(weight: int | None) -> str:
    return "" if weight is None else f" ({weight}% of traffic)"


def _images(images: dict[str, str]) -> str:
    return (
        ", ".join(images.values())
        if len(images) == 1
        else ", ".join(f"{k}={v}" for k, v in images.items())
    )


def print_history(
    revisions: list[deployments.Revision], *, output: str, stream: IO[str] | None = None
) -> None:
    """`rollout history`: one line per revision, or JSON."""
    out = stream or sys.stdout
    if output == "json":
        out.write(json.dumps([dataclasses.asdict(r) for r in revisions], indent=2) + "\n")
        return
    out.write(f"{'REVISION':<9} {'REPLICASET':<32} {'PODS':>4}  IMAGES\n")
    for r in revisions:
        mark = "*" if r.current else " "
        out.write(f"{mark}{r.number:<8} {r.replicaset:<32} {r.replicas:>4}  {_images(r.images)}\n")
