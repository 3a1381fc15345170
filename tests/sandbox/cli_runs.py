"""Run the real `rollout` CLI as a subprocess against a sandbox, and set up link-manager.

Tests assert on exit codes, the `-o json` result, and cluster state read back with the
real kubernetes client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.factories import make_deployment, make_service
from tests.sandbox.rollouts import wait_rolled_out

Obj = dict[str, Any]
REPO = "ghcr.io/example/link-manager"
APP = "link-manager"
ANNOTATION = "rollout.dev/rollout"
FAST_ANALYSIS = (
    "--interval",
    "1s",
    "--count",
    "2",
    "--initial-delay",
    "3s",
    "--inconclusive-limit",
    "1",
)


# Short leases and retry budgets so crash/takeover scenarios take seconds, not minutes.
ENV = {
    **os.environ,
    "ROLLOUT_LEASE_DURATION": "2",
    "ROLLOUT_LEASE_RENEW": "0.5",
    "ROLLOUT_METRICS_RETRY_DEADLINE": "1",
    "ROLLOUT_API_RETRY_DEADLINE": "10",
}


@dataclass(frozen=True)
class Run:
    """A finished CLI run."""

    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> Obj:
        """The `-o json` document on stdout."""
        return json.loads(self.stdout)  # type: ignore[no-any-return]


def command(kubeconfig: Path, namespace: str, *args: str) -> list[str]:
    """`python -m rollout SUBCOMMAND --kubeconfig K -n NS --log-format json ARGS...`: the
    test's own options come last, so a case can override the defaults."""
    return [
        sys.executable,
        "-m",
        "rollout",
        args[0],
        "--kubeconfig",
        str(kubeconfig),
        "-n",
        namespace,
        "--log-format",
        "json",
        *args[1:],
    ]


def rollout(
    kubeconfig: Path,
    namespace: str,
    *args: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> Run:
    """Run `rollout ARGS` to completion (`env`: variables on top of ENV)."""
    proc = subprocess.run(
        command(kubeconfig, namespace, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**ENV, **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def start(
    kubeconfig: Path, namespace: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start `rollout ARGS` in the background (stdout/stderr captured)."""
    return subprocess.Popen(
        command(kubeconfig, namespace, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**ENV, **(env or {})},
    )


class LogTail:
    """A started run's stderr read as it comes (JSON log lines), so a test can act at
    the moment the run logs an event: a signal during analysis, a fault after a step."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, event: str, *, after: int = 0, timeout: float = 60, **fields: Any) -> int:
        """The index of the first line from `after` on logging `event` with `fields`."""

        def found() -> int | None:
            for i in range(after, len(self.lines)):
                entry = _log_entry(self.lines[i])
                if entry.get("event") == event and all(
                    entry.get(k) == v for k, v in fields.items()
                ):
                    return i
            return None

        with self._changed:
            ok = self._changed.wait_for(
                lambda: found() is not None or not self._reader.is_alive(), timeout=timeout
            )
            index = found()
        if not ok or index is None:
            self.proc.kill()
            raise AssertionError(f"no {event} {fields} logged:\n{''.join(self.lines[-20:])}")
        return index

    def finish(self, timeout: float = 60) -> Run:
        """Wait for the run to end: its exit code, stdout and the whole of stderr."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return Run(code, out, "".join(self.lines))


def _log_entry(line: str) -> Obj:
    try:
        entry = json.loads(line)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def deploy_app(
    api: client.ApiClient,
    namespace: str,
    *,
    image: str = f"{REPO}:v1",
    replicas: int = 4,
    **spec: Any,
) -> None:
    """link-manager Deployment + Service in `namespace`, waited until available."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(
        namespace, make_deployment(APP, replicas=replicas, image=image, **spec)
    )
    core.create_namespaced_service(namespace, make_service(APP))
    wait_rolled_out(apps, namespace, APP, timeout=10)


def deployment(api: client.ApiClient, namespace: str, name: str = APP) -> Obj:
    """The Deployment as raw JSON."""
    resp = client.AppsV1Api(api).read_namespaced_deployment(name, namespace, _preload_content=False)
    return json.loads(resp.data)  # type: ignore[no-any-return]


def record(api: client.ApiClient, namespace: str, name: str = APP) -> Obj:
    """The rollout record annotation, parsed."""
    return json.loads(deployment(api, namespace, name)["metadata"]["annotations"][ANNOTATION])


def image(api: client.ApiClient, namespace: str, name: str = APP) -> str:
    return str(
        deployment(api, namespace, name)["spec"]["template"]["spec"]["containers"][0]["image"]
    )


def events(api: client.ApiClient, namespace: str) -> list[str]:
    """Reasons of the Events recorded on the app's Deployment, oldest first."""
    items = (
        client.CoreV1Api(api)
        .list_namespaced_event(namespace, field_selector=f"involvedObject.name={APP}")
        .items
    )
    return [e.reason for e in items if e.source and e.source.component == "rollout"]


def lease_exists(api: client.ApiClient, namespace: str) -> bool:
    leases = client.CoordinationV1Api(api).list_namespaced_lease(namespace).items
    return any(item.metadata.name == f"rollout-{APP}" for item in leases)
