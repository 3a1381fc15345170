"""The Lease lock: one process drives a rollout of a target at a time.

A coordination.k8s.io/v1 Lease `rollout-<name>` in the target's namespace, renewed by
a daemon thread while held, deleted on release; an expired lease may be taken over.
All API access goes through kube.Cluster.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import threading
import time
import uuid
from typing import Any

import structlog

from rollout import errors, kube, ownership
from rollout.settings import Settings
from rollout.spec import ObjectRef

log = structlog.get_logger(__name__)
MANAGED_BY = ownership.MANAGED_BY


def lease_name(target: ObjectRef) -> str:
    return f"rollout-{target.name}"


def _micro_time(epoch: float) -> str:
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _holder_of(lease: dict[str, Any] | None) -> tuple[str, float]:
    if lease is None:
        return "", 0.0
    spec = lease.get("spec") or {}
    holder = str(spec.get("holderIdentity") or "")
    renewed = _epoch(spec.get("renewTime") or spec.get("acquireTime"))
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return holder, renewed + duration - time.time()


class Lock:
    """A coordination.k8s.io/v1 Lease `rollout-<name>`: one driver per target.

    `acquire()` takes a free or expired lease (or refuses with LockHeldError naming the
    holder, or waits with `wait=True`); a daemon thread renews it; `release()` deletes it.
    """

    def __init__(
        self,
        cluster: kube.Cluster,
        target: ObjectRef,
        *,
        settings: Settings,
        identity: str | None = None,
    ) -> None:
        self.cluster, self.target, self.settings = cluster, target, settings
        self.ref = ObjectRef(target.namespace, lease_name(target))
        self.identity = identity or f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = threading.Event()

    def acquire(self, *, wait: bool = False) -> None:
        """Hold the lease, or raise LockHeldError (after waiting, with `wait`)."""
        while True:
            lease = self.cluster.find(kube.Resource.LEASE, self.ref)
            holder, expires_in = _holder_of(lease)
            if holder in ("", self.identity) or expires_in <= 0:
                if self._take(lease):
                    break
                continue  # lost a race: look again
            if not wait:
                raise errors.LockHeldError(
                    f"Deployment {self.target}: another rollout holds lease {self.ref.name} "
                    f"(holder {holder}, expires in {expires_in:.0f}s unless renewed); "
                    "retry later, pass --wait, or `rollout abort` it",
                    holder=holder,
                    expires_in=expires_in,
                )
            log.info("lock.waiting", holder=holder, expires_in=round(expires_in, 1))
            with contextlib.suppress(errors.WaitTimeout):  # expired: loop, take it over
                self.cluster.wait_for(
                    kube.Resource.LEASE,
                    self.ref,
                    lambda obj: _holder_of(obj)[0] == "",
                    timeout=max(expires_in, 0.05),
                    describe="lease release",
                )  # expired while we watched: loop and take it over
        self._thread = threading.Thread(target=self._renew, name="rollout-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop renewing and delete the lease if we still hold it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        lease = self.cluster.find(kube.Resource.LEASE, self.ref)
        if lease is not None and _holder_of(lease)[0] == self.identity:
            self.cluster.delete(kube.Resource.LEASE, self.ref)

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def holder(self) -> tuple[str, float]:
        """(holder identity, seconds until the lease expires); ("", 0) when free."""
        return _holder_of(self.cluster.find(kube.Resource.LEASE, self.ref))

    def is_held(self) -> bool:
        """Someone (not us) holds a lease that has not expired."""
        holder, expires_in = self.holder()
        return bool(holder) and holder != self.identity and expires_in > 0

    def _take(self, lease: dict[str, Any] | None) -> bool:
        now = _micro_time(time.time())
        spec = {
            "holderIdentity": self.identity,
            "acquireTime": now,
            "renewTime": now,
            "leaseDurationSeconds": max(1, round(self.settings.lease_duration)),
        }
        try:
            if lease is None:
                self.cluster.create(
                    kube.Resource.LEASE,
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self.ref.name, "labels": {MANAGED_BY: "rollout"}},
                        "spec": spec,
                    },
                    namespace=self.ref.namespace,
                )
            else:
                self.cluster.update(
                    kube.Resource.LEASE, self.ref, lambda current: self._take_over(current, spec)
                )
        except errors.Conflict:
            return False
        log.info(
            "lock.acquired",
            lease=self.ref.name,
            holder=self.identity,
            took_over=bool(lease and _holder_of(lease)[0]),
        )
        return True

    def _take_over(self, lease: dict[str, Any], spec: dict[str, Any]) -> None:
        """Mutation for taking a free or expired lease; refuses (Conflict) if someone
        renewed or took it since we looked."""
        holder, expires_in = _holder_of(lease)
        if holder not in ("", self.identity) and expires_in > 0:
            raise errors.Conflict(f"lease {self.ref.name} was renewed by {holder}", code=409)
        transitions = int(lease["spec"].get("leaseTransitions") or 0)
        lease["spec"].update(spec, leaseTransitions=transitions + (1 if holder else 0))

    def _renew(self) -> None:
        while not self._stop.wait(self.settings.lease_renew):

            def touch(lease: dict[str, Any]) -> None:
                if lease["spec"].get("holderIdentity") != self.identity:
                    raise errors.Conflict("lease taken over", code=409, reason="Conflict")
                lease["spec"]["renewTime"] = _micro_time(time.time())

            try:
                self.cluster.update(kube.Resource.LEASE, self.ref, touch)
            except errors.Conflict:
                log.error("lock.lost", lease=self.ref.name)
                self.lost.set()
                return
            except errors.RolloutError as e:
                log.warning("lock.renew_failed", lease=self.ref.name, error=str(e))
