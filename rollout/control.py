"""Control of a rollout from any process, through its target Deployment: reading the
target and its record (`status`, `status --watch`, `history`), and the promote/abort
requests left on it as an annotation (`promote`, `abort`, and what a request means to
the process driving the rollout).

Drives no strategy: an abort that must roll back here is the engine's, passed in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rollout import deployments, errors, kube, lease, state
from rollout.report import Outcome, Result
from rollout.settings import Settings
from rollout.spec import ObjectRef
from rollout.state import Request, RolloutRecord


def request(
    cluster: kube.Cluster,
    target: ObjectRef,
    request: Request,
    *,
    settings: Settings,
    abort_here: Callable[[lease.Lock, RolloutRecord], Result],
) -> Result:
    """`promote`/`abort` from any process: leave the request for the driving process.

    An abort with no live driver (lease free, or expired after a crash) calls
    `abort_here(lock, record)` to take the lock and roll back in this process; with a
    live driver it waits until that process has.
    """
    d = read_target(cluster, target)
    record = read_active_record(d, target)
    lock = lease.Lock(cluster, target, settings=settings)
    if request is Request.ABORT and not lock.is_held():
        return abort_here(lock, record)
    cluster.patch(
        kube.Resource.DEPLOYMENT,
        target,
        {"metadata": {"annotations": {state.REQUEST_ANNOTATION: request.value}}},
    )
    cluster.record_event(d, reason="RolloutRequested", message=f"{request.value} requested")
    if request is not Request.ABORT:
        return Result(
            Outcome.UNCHANGED,
            target,
            f"{request.value} requested for Deployment {target}",
            record,
        )
    while True:
        _, expires_in = lock.holder()
        try:
            done = cluster.wait_for(
                kube.Resource.DEPLOYMENT,
                target,
                lambda o: o is None or _is_finished(o),
                timeout=max(expires_in, 0) + settings.lease_renew,
                describe="rollback by the driving process",
            )
            final = state.read_record(done) if done is not None else None
            return Result(Outcome.ABORTED, target, final.message if final else "aborted", final)
        except errors.WaitTimeout:
            if not lock.is_held():  # the driver died: finish the abort ourselves
                d = read_target(cluster, target)
                return abort_here(lock, read_active_record(d, target))


def status(cluster: kube.Cluster, target: ObjectRef) -> RolloutRecord | None:
    """The current record, or None if the Deployment never had a rollout."""
    return state.read_record(read_target(cluster, target))


def watch_status(
    cluster: kube.Cluster, target: ObjectRef, *, settings: Settings
) -> Iterator[RolloutRecord | None]:
    """The record now and after every change of it, until the rollout is over
    (watch-driven: each change of the Deployment's record annotation)."""
    d = read_target(cluster, target)
    text = (d["metadata"].get("annotations") or {}).get(state.ANNOTATION)
    record = state.read_record(d)
    yield record
    while record is not None and not record.phase.is_terminal:

        def changed(o: kube.Object | None, seen: str | None = text) -> bool:
            return (
                o is None or (o["metadata"].get("annotations") or {}).get(state.ANNOTATION) != seen
            )

        with contextlib.suppress(errors.WaitTimeout):
            found = cluster.wait_for(
                kube.Resource.DEPLOYMENT,
                target,
                changed,
                timeout=settings.watch_timeout,
                describe="rollout record change",
            )
            if found is None:
                return
            text = (found["metadata"].get("annotations") or {}).get(state.ANNOTATION)
            record = state.read_record(found)
            yield record


def history(cluster: kube.Cluster, target: ObjectRef) -> list[deployments.Revision]:
    """The Deployment's revisions (its ReplicaSets), newest first (`rollout status` shows
    the record of the latest rollout)."""
    d = read_target(cluster, target)
    owned = [
        rs
        for rs in cluster.list(kube.Resource.REPLICASET, target.namespace)
        if any(
            o.get("uid") == d["metadata"]["uid"]
            for o in rs["metadata"].get("ownerReferences") or []
        )
    ]
    return deployments.revisions(d, owned)


def read_target(cluster: kube.Cluster, target: ObjectRef) -> kube.Object:
    """The target Deployment; PreconditionError (exit 2) if there is none."""
    try:
        return cluster.get(kube.Resource.DEPLOYMENT, target)
    except errors.NotFound as e:
        raise errors.PreconditionError(
            f"Deployment {target} not found; check the name and -n/--namespace"
        ) from e


def read_active_record(d: kube.Object, target: ObjectRef) -> RolloutRecord:
    """The record of the rollout in progress on `d`; PreconditionError if none is."""
    record = state.read_record(d)
    if record is None or record.phase.is_terminal:
        what = "never had a rollout" if record is None else f"is {record.phase.value}"
        raise errors.PreconditionError(f"Deployment {target}: no rollout in progress (it {what})")
    return record


def read_promotion(d: kube.Object) -> Request:
    """The promote request left on `d`, else NONE (an abort is the abort watcher's)."""
    request = state.read_request(d)
    return request if request in (Request.PROMOTE, Request.PROMOTE_FULL) else Request.NONE


def clear_request(cluster: kube.Cluster, target: ObjectRef) -> None:
    """Remove the request annotation: the request has been answered."""
    cluster.patch(
        kube.Resource.DEPLOYMENT,
        target,
        {"metadata": {"annotations": {state.REQUEST_ANNOTATION: None}}},
    )


def _is_finished(d: kube.Object) -> bool:
    record = state.read_record(d)
    return record is None or record.phase.is_terminal
