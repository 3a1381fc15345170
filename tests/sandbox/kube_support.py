"""Helpers shared by the kube sandbox tests (test_kube*.py)."""

from __future__ import annotations

import dataclasses
import socket
import threading
from typing import Any

from rollout.settings import FAST, Settings

Obj = dict[str, Any]


def with_retry(**changes: float) -> Settings:
    return dataclasses.replace(FAST, retry=dataclasses.replace(FAST.retry, **changes))


def lease(name: str, holder: str = "a") -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": holder},
    }


def holder_is(value: str) -> Any:
    return lambda obj: obj is not None and obj["spec"].get("holderIdentity") == value


def later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
