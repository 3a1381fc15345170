"""The Lease lock: one process drives a rollout of a target at a time.

A coordination.k8s.io/v1 Lease `rollout-<name>` in the target's namespace, renewed by
a daemon thread while held, deleted on release; an expired lease may be taken over.
A holder whose lease was taken over, deleted, or not renewed for its duration has lost
it: `check()` says so, and the engine stops writing. All API access goes through
kube.Cluster.
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
    holder, or waits with `wait=True`); a daemon thread renews it; `check()` raises once
    it is lost; `release()` deletes it if it is still ours.
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
        self.lost = threading.Event()  # taken over or deleted (set by the renewal thread)
        self._lost_reason = ""
        self._renewed_at = 0.0  # time.monotonic() just before the last successful write
        self._renew_error = ""  # why the renewals since then failed

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
        """Stop renewing and delete the lease if we still hold it (a lost one, never: it
        may be someone else's by now)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._thread is None or self._lost_because():
            return
        lease = self.cluster.find(kube.Resource.LEASE, self.ref)
        if lease is not None and _holder_of(lease)[0] == self.identity:
            self.cluster.delete(kube.Resource.LEASE, self.ref)

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def check(self) -> None:
        """errors.InfraError (exit 5) if the lease is no longer surely ours: another
        process took it over or deleted it, or it went unrenewed for its whole duration
        (anyone may take it over then). A driver calls this before each change."""
        why = self._lost_because()
        if not why:
            return
        raise errors.InfraError(
            f"Deployment {self.target}: lost lease {self.ref.name} ({why}); stopped without "
            f"changing anything more; see `rollout status {self.target.name}`"
        )

    def _lost_because(self) -> str:
        """Why the lease is no longer surely ours; "" while it is."""
        if self.lost.is_set():
            return self._lost_reason
        silent = time.monotonic() - self._renewed_at
        if silent <= self.settings.lease_duration:
            return ""
        return f"not renewed for {silent:.1f}s: {self._renew_error or 'renewal stalled'}"

    def holder(self) -> tuple[str, float]:
        """(holder identity, seconds until the lease expires); ("", 0) when free."""
        return _holder_of(self.cluster.find(kube.Resource.LEASE, self.ref))

    def is_held(self) -> bool:
        """Someone (not us) holds a lease that has not expired."""
        holder, expires_in = self.holder()
        return bool(holder) and holder != self.identity and expires_in > 0

    def _take(self, lease: dict[str, Any] | None) -> bool:
        started = time.monotonic()
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
        self._renewed_at = started
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
        # each renewal gives up in time for the next one: a lease left unrenewed for its
        # duration is lost (see check) however long the API stays away
        cluster = self.cluster.with_retry_deadline(self.settings.lease_renew)
        while not self._stop.wait(self.settings.lease_renew):
            started = time.monotonic()
            try:
                cluster.update(kube.Resource.LEASE, self.ref, self._touch)
            except errors.Conflict as e:  # raised by _touch: someone else holds it
                self._lose(str(e))
                return
            except errors.NotFound:
                self._lose("deleted by someone else")
                return
            except errors.RolloutError as e:
                self._renew_error = str(e)
                log.warning("lock.renew_failed", lease=self.ref.name, error=str(e))
            else:
                self._renewed_at, self._renew_error = started, ""

    def _touch(self, lease: dict[str, Any]) -> None:
        """Mutation renewing the lease; Conflict if someone else holds it now."""
        holder = lease["spec"].get("holderIdentity") or "nobody"
        if holder != self.identity:
            raise errors.Conflict(f"taken over by {holder}", code=409, reason="Conflict")
        lease["spec"]["renewTime"] = _micro_time(time.time())

    def _lose(self, why: str) -> None:
        self._lost_reason = why
        log.warning("lock.lost", lease=self.ref.name, reason=self._lost_because)
        self.lost.set()
