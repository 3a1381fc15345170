"""Scheduler and kubelet model: a pod is bound to the sandbox node, gets an IP, starts
running and becomes Ready after its image's startup delay; an image may crash-loop or
never become ready.

Records the Events a real scheduler and kubelet would (Scheduled, Pulled, Created,
Started, BackOff, Unhealthy) so `kubectl describe pod` reads as on a cluster.
Behaviour per image comes from the sandbox config; timing from the sandbox clock.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from rollout.sandbox import kinds
from rollout.sandbox.clock import Clock
from rollout.sandbox.controllers import pods as podfacts
from rollout.sandbox.controllers.events import NORMAL, WARNING, EventRecorder
from rollout.sandbox.controllers.manager import Key
from rollout.sandbox.store.store import Store
from rollout.sandbox.store.watch import Event

Obj = dict[str, Any]
POD = kinds.BY_KEY["pods"]
CRASH_BACKOFF = (10.0, 20.0, 40.0, 80.0, 160.0, 300.0)  # sandbox seconds between restarts
NODE_NAME = "sandbox-control-plane"
NODE_IP = "172.18.0.2"


class Behaviour(Protocol):
    """How pods of one image behave (read-only, like the config's frozen dataclass)."""

    @property
    def startup_delay(self) -> float: ...

    @property
    def crash_loop(self) -> bool: ...

    @property
    def never_ready(self) -> bool: ...


class KubeletController:
    """Moves pods through Pending -> Running -> Ready as a scheduler and kubelet would."""

    name = "kubelet"

    def __init__(self, store: Store, clock: Clock, behaviour: Callable[[str], Behaviour]) -> None:
        self.store, self.clock, self.behaviour = store, clock, behaviour
        self.scheduler_events = EventRecorder(store, "default-scheduler")
        self.events = EventRecorder(store, "kubelet", host=NODE_NAME)
        self._next_ip = 0
        self._started: dict[str, float] = {}  # pod uid -> monotonic start
        self._restart_due: dict[str, float] = {}  # crash-looping pod uid -> monotonic time

    def keys_for(self, event: Event) -> Iterable[Key]:
        if event.key == POD.key and event.type != "DELETED":
            return [(event.namespace, event.obj["metadata"]["name"])]
        if event.key == POD.key:
            self._started.pop(event.obj["metadata"]["uid"], None)
            self._restart_due.pop(event.obj["metadata"]["uid"], None)
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
            self._start(self._schedule(pod), behaviour)
            if behaviour.crash_loop:
                self._restart_due[uid] = self.clock.now() + self.clock.real(CRASH_BACKOFF[0])
                return CRASH_BACKOFF[0]
            return None if behaviour.never_ready else behaviour.startup_delay
        if behaviour.crash_loop:
            return self._crash(pod)
        if behaviour.never_ready or podfacts.is_ready(pod):
            return None
        elapsed = (self.clock.now() - self._started[uid]) * self.clock.speed
        if elapsed + 1e-6 < behaviour.startup_delay:
            return behaviour.startup_delay - elapsed
        self.store.update(POD, namespace, name, _become_ready, subresource="status")
        return None

    def _crash(self, pod: Obj) -> float:
        """Restart a crash-looping pod's containers when its back-off is due (10 s, 20 s,
        40 s, ... up to 5 min, like the kubelet); return sandbox seconds to the next."""
        meta = pod["metadata"]
        uid, left = meta["uid"], self._restart_due.get(meta["uid"], 0.0) - self.clock.now()
        if left > 0:
            return left * self.clock.speed
        pod = self.store.update(
            POD, meta["namespace"], meta["name"], _restart, subresource="status"
        )
        restarts = max((s.get("restartCount", 0) for s in _statuses(pod)), default=0)
        backoff = CRASH_BACKOFF[min(restarts, len(CRASH_BACKOFF) - 1)]
        self._restart_due[uid] = self.clock.now() + self.clock.real(backoff)
        for c in pod["spec"].get("containers") or []:
            self.events.record(
                pod,
                WARNING,
                "BackOff",
                f"Back-off restarting failed container "
                f"{c.get('name')} in pod {meta['name']}_{meta['namespace']}({uid})",
            )
        return backoff

    def _schedule(self, pod: Obj) -> Obj:
        """Bind the pod to the sandbox's one node (the scheduler's part)."""
        if pod["spec"].get("nodeName"):
            return pod
        meta = pod["metadata"]
        bound = self.store.update(
            POD,
            meta["namespace"],
            meta["name"],
            lambda p: p["spec"].__setitem__("nodeName", NODE_NAME),
        )
        self.scheduler_events.record(
            bound,
            NORMAL,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE_NAME}",
        )
        return bound

    def _start(self, pod: Obj, behaviour: Behaviour) -> None:
        """Report the pod running (not ready yet) and record the container Events."""
        self._next_ip += 1
        ip = str(ipaddress.IPv4Address("10.244.0.0") + self._next_ip)
        meta = pod["metadata"]
        started = self.store.update(
            POD,
            meta["namespace"],
            meta["name"],
            lambda p: _running(p, ip, behaviour),
            subresource="status",
        )
        for c in started["spec"].get("containers") or []:
            image, cname = c.get("image", ""), c.get("name", "")
            self.events.record(
                started, NORMAL, "Pulled", f'Container image "{image}" already present on machine'
            )
            self.events.record(started, NORMAL, "Created", f"Created container: {cname}")
            self.events.record(started, NORMAL, "Started", f"Started container {cname}")
            if behaviour.never_ready and not behaviour.crash_loop:
                self.events.record(started, WARNING, "Unhealthy", _probe_failure(c))


def _running(pod: Obj, ip: str, behaviour: Behaviour) -> None:
    now = podfacts.format_time(time.time())
    waiting = {"waiting": {"reason": "CrashLoopBackOff"}} if behaviour.crash_loop else None
    pod["status"] = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "startTime": now,
        "qosClass": _qos_class(pod["spec"]),
        "conditions": [
            _cond("PodReadyToStartContainers", "True", now),
            _cond("Initialized", "True", now),
            _cond("Ready", "False", now),
            _cond("ContainersReady", "False", now),
            _cond("PodScheduled", "True", now),
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": _image_id(c),
                "containerID": _container_id(pod, c),
                "ready": False,
                "started": not behaviour.crash_loop,
                "restartCount": 0,
                "state": waiting or {"running": {"startedAt": now}},
            }
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


def _statuses(pod: Obj) -> list[Obj]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def _restart(pod: Obj) -> None:
    now = podfacts.format_time(time.time())
    for status in _statuses(pod):
        began = (status.get("lastState") or {}).get("terminated", {}).get("finishedAt")
        status["restartCount"] = status.get("restartCount", 0) + 1
        status["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "containerID": status.get("containerID", ""),
                "startedAt": began or pod["status"].get("startTime", now),
                "finishedAt": now,
            }
        }


def _qos_class(spec: Obj) -> str:
    """Upstream GetPodQOS: BestEffort without requests/limits, Guaranteed when every
    container's cpu and memory limits equal its requests, else Burstable."""
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                return "Burstable"
    return "Guaranteed"


def _probe_failure(container: Obj) -> str:
    if (container.get("readinessProbe") or {}).get("httpGet"):
        return "Readiness probe failed: HTTP probe failed with statuscode: 503"
    return "Readiness probe failed: the container never reported ready"


def _container_id(pod: Obj, container: Obj) -> str:
    seed = f"{pod['metadata']['uid']}/{container.get('name')}".encode()
    return "containerd://" + hashlib.sha256(seed).hexdigest()


def _image_id(container: Obj) -> str:
    image = str(container.get("image", ""))
    repo = image.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
