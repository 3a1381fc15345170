"""The Lease lock over time: renewal keeps it past its duration, `--wait` queues behind a
live holder, and a driver that loses its lease (taken over, or not renewable) stops
writing and exits 5, leaving the record to whoever holds the lease now.

Lease expiry is wall-clock by design (renewTime + leaseDurationSeconds), so these tests
use short leases and wait on lease *events* (renewals seen through a watch) with wide
margins; the test's own clients carry their own user agent, so the sandbox's request
log tells the rollout CLI's writes apart.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from rollout import errors, kube, lease
from rollout.sandbox import Sandbox
from rollout.settings import FAST
from rollout.spec import ObjectRef
from tests.sandbox.cli_runs import ANNOTATION, APP, REPO, deployment, image, rollout, start

Obj = dict[str, Any]
TEST_AGENT = "lease-test"  # user agent of this test's own requests
ROLLOUT_AGENT = "rollout/"  # the CLI's (rollout/<version>)
SETTINGS = dataclasses.replace(FAST, user_agent=TEST_AGENT)  # lease 2 s, renewed every 0.5 s


@pytest.fixture
def ours(kubeconfig: Path, app: str) -> Iterator[kube.Cluster]:
    """A Cluster in the app's namespace under the test's own user agent."""
    with kube.Cluster.connect(kubeconfig=str(kubeconfig), namespace=app, settings=SETTINGS) as c:
        yield c


def renewed_for(seconds: float) -> Any:
    """Predicate: the lease's holder has renewed it `seconds` past its acquisition."""

    def stamp(text: str) -> float:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    def held_long(obj: Obj | None) -> bool:
        spec = (obj or {}).get("spec") or {}
        return (
            "renewTime" in spec and stamp(spec["renewTime"]) - stamp(spec["acquireTime"]) >= seconds
        )

    return held_long


def writes_since(sandbox: Sandbox, moment: float) -> list[str]:
    """Persisted writes the rollout CLI made after `moment` (time.monotonic())."""
    return [
        f"{req.verb} {req.resource}/{req.name}"
        for entry in list(sandbox.requests.entries)
        for req in [entry.request]
        if entry.at > moment
        and ROLLOUT_AGENT in req.user_agent
        and req.verb in ("create", "update", "patch", "delete")
        and not req.dry_run
        and entry.code < 400
    ]


def read_stderr_until(proc: subprocess.Popen[str], event: str) -> list[str]:
    """The CLI's JSON log lines up to the first with this event (blocking on each line)."""
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("{") and json.loads(line).get("event") == event:
            return lines
    raise AssertionError(f"the CLI ended without logging {event}: {''.join(lines)}")


def lease_ref(namespace: str) -> ObjectRef:
    return ObjectRef(namespace, f"rollout-{APP}")


# -- the lock on its own -------------------------------------------------------------


def test_renewal_keeps_the_lock_past_its_duration(ours: kube.Cluster, app: str) -> None:
    target = ObjectRef(app, APP)
    first = lease.Lock(ours, target, settings=SETTINGS, identity="first")
    second = lease.Lock(ours, target, settings=SETTINGS, identity="second")
    first.acquire()
    try:
        # twice the 2 s lease: without renewals it would have expired long ago
        ours.wait_for(kube.Resource.LEASE, lease_ref(app), renewed_for(4.0), timeout=20)
        with pytest.raises(errors.LockHeldError) as info:
            second.acquire()
        assert info.value.holder == "first" and info.value.expires_in > 0
        first.check()  # still ours: no error
    finally:
        first.release()
    second.acquire()
    assert second.holder()[0] == "second"
    second.release()


def test_a_lock_taken_over_is_lost_and_not_released_by_its_old_holder(
    ours: kube.Cluster, app: str
) -> None:
    lock = lease.Lock(ours, ObjectRef(app, APP), settings=SETTINGS, identity="first")
    lock.acquire()
    lock.check()
    ours.patch(
        kube.Resource.LEASE,
        lease_ref(app),
        {"spec": {"holderIdentity": "thief", "leaseDurationSeconds": 60}},
    )
    assert lock.lost.wait(timeout=10)  # the next renewal sees the new holder
    with pytest.raises(errors.InfraError) as info:
        lock.check()
    assert info.value.exit_code == 5
    assert str(info.value) == (
        f"Deployment {app}/{APP}: lost lease rollout-{APP} (taken over by thief); stopped "
        f"without changing anything more; see `rollout status {APP}`"
    )
    lock.release()
    assert lock.holder()[0] == "thief"  # the new holder's lease is left alone


# -- the CLI -------------------------------------------------------------------------


def test_wait_queues_behind_a_live_holder_and_proceeds_when_it_releases(
    ours: kube.Cluster, app: str, kubeconfig: Path, sandbox: Sandbox, api_client: client.ApiClient
) -> None:
    holder = lease.Lock(ours, ObjectRef(app, APP), settings=SETTINGS, identity="other-ci-job")
    holder.acquire()
    sandbox.requests.clear()
    proc = start(kubeconfig, app, "rolling", APP, "--image", "v2", "--wait", "-o", "json")
    try:
        waiting = read_stderr_until(proc, "lock.waiting")
        assert json.loads(waiting[-1])["holder"] == "other-ci-job"
        # the CLI's lease is 2 s too: it must keep waiting while the holder renews
        ours.wait_for(kube.Resource.LEASE, lease_ref(app), renewed_for(5.0), timeout=20)
        assert proc.poll() is None
        assert writes_since(sandbox, 0) == []
        released = time.monotonic()
        holder.release()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out)["outcome"] == "promoted"
    assert image(api_client, app) == f"{REPO}:v2"
    assert writes_since(sandbox, released)[0] == "create leases/"  # (a POST names no object)


@pytest.fixture
def paused_canary(
    kubeconfig: Path, app: str, api_client: client.ApiClient, ours: kube.Cluster
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A canary rollout to v2 in its 4 s pause after the first step (25%), every write of
    that step done (its Event recorded); yields the process and the record then."""
    proc = start(
        kubeconfig, app, "canary", APP, "--image", "v2", "--steps", "25,50", "--pause", "4s"
    )
    try:
        for kind, obj in ours.watch_list(kube.Resource.EVENT, app, timeout=30):
            if kind == "ADDED" and obj.get("reason") == "RolloutPaused":
                break
        else:
            raise AssertionError(f"the canary never paused: {proc.communicate()[1]}")
        yield proc, deployment(api_client, app)["metadata"]["annotations"][ANNOTATION]
    finally:
        proc.kill()
        proc.wait()


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Exit code and the last line on stderr."""
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.strip().splitlines()[-1]


def test_a_driver_whose_lease_is_taken_over_stops_without_another_write(
    paused_canary: tuple[subprocess.Popen[str], str],
    ours: kube.Cluster,
    app: str,
    sandbox: Sandbox,
    api_client: client.ApiClient,
) -> None:
    proc, record = paused_canary
    ours.patch(
        kube.Resource.LEASE,
        lease_ref(app),
        {"spec": {"holderIdentity": "thief", "leaseDurationSeconds": 60}},
    )
    stolen = time.monotonic()

    code, last = finish(proc)  # the pause ends; the next step would write

    assert code == 5
    assert last == (
        f"error: Deployment {app}/{APP}: lost lease rollout-{APP} (taken over by thief); "
        f"stopped without changing anything more; see `rollout status {APP}`"
    )
    assert writes_since(sandbox, stolen) == []
    assert deployment(api_client, app)["metadata"]["annotations"][ANNOTATION] == record
    assert image(api_client, app, f"{APP}-canary") == f"{REPO}:v2"  # not rolled back by us
    assert ours.get(kube.Resource.LEASE, lease_ref(app))["spec"]["holderIdentity"] == "thief"


def test_a_driver_waiting_at_a_manual_pause_stops_when_its_lease_is_taken_over(
    kubeconfig: Path, app: str, ours: kube.Cluster, sandbox: Sandbox
) -> None:
    """--wait-at-pause waits for `rollout promote` without end, but not past a lost lease:
    the wait is watched in spans of one lease duration (2 s here), checked after each."""
    proc = start(kubeconfig, app, "canary", APP, "--image", "v2", "--steps", "25,50",
                 "--pause", "manual", "--wait-at-pause")  # fmt: skip
    try:
        for kind, obj in ours.watch_list(kube.Resource.EVENT, app, timeout=30):
            if kind == "ADDED" and obj.get("reason") == "RolloutPaused":
                break
        else:
            raise AssertionError(f"the canary never paused: {proc.communicate()[1]}")
        ours.patch(
            kube.Resource.LEASE,
            lease_ref(app),
            {"spec": {"holderIdentity": "thief", "leaseDurationSeconds": 60}},
        )
        stolen = time.monotonic()

        code, last = finish(proc)
    finally:
        proc.kill()
        proc.wait()

    assert code == 5, last
    assert "lost lease" in last and "taken over by thief" in last, last
    assert time.monotonic() - stolen < 10  # a span or two, not forever
    assert writes_since(sandbox, stolen) == []


def test_a_driver_that_cannot_renew_its_lease_stops_and_can_be_resumed(
    paused_canary: tuple[subprocess.Popen[str], str],
    app: str,
    kubeconfig: Path,
    sandbox: Sandbox,
    api_client: client.ApiClient,
) -> None:
    proc, record = paused_canary
    sandbox.faults.fail(1.0, 503, verbs={"update"}, resources={"leases"})

    code, last = finish(proc)

    assert code == 5
    assert last.startswith(
        f"error: Deployment {app}/{APP}: lost lease rollout-{APP} (not renewed for "
    )
    assert "update failed (503 ServiceUnavailable" in last
    assert last.endswith(f"; stopped without changing anything more; see `rollout status {APP}`")
    failing = min(e.at for e in sandbox.requests.entries if e.code == 503)  # first refusal
    assert writes_since(sandbox, failing) == []  # not even deleting the lease
    assert deployment(api_client, app)["metadata"]["annotations"][ANNOTATION] == record

    sandbox.faults.clear()  # the API is back: any process may take the expired lease over
    resumed = rollout(kubeconfig, app, "resume", APP)
    assert resumed.code == 0, resumed.stderr
    assert image(api_client, app) == f"{REPO}:v2"
