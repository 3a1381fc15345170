"""Kubelet model: pods get an IP, start running, and become Ready after their image's
startup delay; an image may crash-loop or never become ready.

Behaviour per image comes from the sandbox config; timing from the sandbox clock.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from rollout.sandbox import kinds
from rollout.sandbox.clock import Clock
from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.controllers.manager import Key
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import Event

Obj = dict[str, Any]
POD = kinds.BY_KEY["pods"]
CRASH_RESTART_SECONDS = 10.0


class Behaviour(Protocol):
    startup_delay: float
    crash_loop: bool
    never_ready: bool


class KubeletController:
    """Moves pods through Pending -> Running -> Ready as a kubelet would report."""

    name = "kubelet"

    def __init__(self, store: Store, clock: Clock, behaviour: Callable[[str], Behaviour]) -> None:
        self.store, self.clock, self.behaviour = store, clock, behaviour
        self._next_ip = 0
        self._started: dict[str, float] = {}  # pod uid -> monotonic start

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.key == POD.key and event.type != "DELETED":
            return [(event.namespace, event.obj["metadata"]["name"])]
        if event.key == POD.key:
            self._started.pop(event.obj["metadata"]["uid"], None)
        return []

    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        pod = self.store.find(POD, namespace, name)
        if pod is None or podfacts.is_terminating(pod):
            return None
        uid = pod["metadata"]["uid"]
        containers = pod["spec"].get("containers") or [{}]
        behaviour = self.behaviour(str(containers[0].get("image", "")))
        if uid not in self._started:
            self._started[uid] = self.clock.now()
            self.store.update(POD, namespace, name, lambda p: self._start(p, behaviour), subresource="status")
            return None if behaviour.never_ready else (
                CRASH_RESTART_SECONDS if behaviour.crash_loop else behaviour.startup_delay)
        if behaviour.crash_loop:
            self.store.update(POD, namespace, name, _restart, subresource="status")
            return CRASH_RESTART_SECONDS
        if behaviour.never_ready or podfacts.is_ready(pod):
            return None
        elapsed = (self.clock.now() - self._started[uid]) * self.clock.speed
        if elapsed + 1e-6 < behaviour.startup_delay:
            return behaviour.startup_delay - elapsed
        self.store.update(POD, namespace, name, _become_ready, subresource="status")
        return None

    def _start(self, pod: Obj, behaviour: Behaviour) -> None:
        self._next_ip += 1
        ip = str(ipaddress.IPv4Address("10.244.0.0") + self._next_ip)
        now = podfacts.format_time(time.time())
        waiting = {"waiting": {"reason": "CrashLoopBackOff"}} if behaviour.crash_loop else None
        pod["status"] = {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.2",
            "startTime": now, "qosClass": "BestEffort",
            "conditions": [_cond("PodScheduled", "True", now), _cond("Initialized", "True", now),
                           _cond("ContainersReady", "False", now), _cond("Ready", "False", now)],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "",
                 "ready": False, "started": not behaviour.crash_loop, "restartCount": 0,
                 "state": waiting or {"running": {"startedAt": now}}}
                for c in pod["spec"].get("containers", [])
            ],
        }


def _cond(type_: str, status: str, now: str) -> Obj:
    return {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": now}


def _become_ready(pod: Obj) -> None:
    now = podfacts.format_time(time.time())
    for cond in pod["status"]["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond.update(status="True", lastTransitionTime=now)
    for status in pod["status"]["containerStatuses"]:
        status["ready"] = True


def _restart(pod: Obj) -> None:
    for status in pod["status"]["containerStatuses"]:
        status["restartCount"] = status.get("restartCount", 0) + 1
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
