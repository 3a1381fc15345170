"""`rollout sandbox up` as a user runs it: a foreground process that serves the API,
writes a kubeconfig, stops cleanly on Ctrl-C / SIGTERM, and refuses bad input with
exit 2 and one line."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.conftest import Kubectl

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"^sandbox API on (http://127\.0\.0\.1:(\d+)) \(metrics: \1/metrics\)$")


class Up:
    """A running `python -m rollout sandbox up`, its stdout read line by line on a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rollout", "sandbox", "up", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            # PYTHONPATH: no editable install needed; faulthandler: stacks if it hangs
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"},
            # As from an interactive shell, whatever the test runner's SIGINT disposition.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pattern: re.Pattern[str], timeout: float = 10) -> re.Match[str]:
        """Read stdout up to the first line matching `pattern`."""
        while True:
            line = self.lines.get(timeout=timeout)
            assert line is not None, f"stdout ended first: {self.seen} {self.stderr()}"
            self.seen.append(line)
            if match := pattern.match(line):
                return match

    def stop(self, sig: signal.Signals, timeout: float = 5) -> int:
        """Send `sig`; the exit code (fails if the process outlives `timeout`)."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            self.proc.wait(timeout=timeout)
            pytest.fail(f"still running {timeout}s after {sig.name}:\n{self.stderr()}")
        self._reader.join(timeout=timeout)
        while (line := self.lines.get_nowait()) is not None:
            self.seen.append(line)
        return code

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def up() -> Iterator[type[Up]]:
    """Start `sandbox up` processes; any still running are killed at teardown."""
    started: list[Up] = []

    class Tracked(Up):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for proc in started:
        proc.close()


def is_listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def sandbox_up(*args: str) -> subprocess.CompletedProcess[str]:
    """A `sandbox up` that is expected to end by itself (bad input)."""
    return subprocess.run(
        [sys.executable, "-m", "rollout", "sandbox", "up", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_up_with_example_serves_link_manager_and_stops_cleanly_on_ctrl_c(
    up: type[Up], tmp_path: Path
) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on this machine (it is on the project's CI)")
    kubeconfig = tmp_path / "sub" / "sandbox.kubeconfig"
    box = up("--port", "0", "--kubeconfig", str(kubeconfig), "--example")
    ready = box.until(READY)
    port = int(ready.group(2))
    box.until(re.compile(r"^Ctrl-C stops it\.$"))

    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    kubectl = Kubectl(kubeconfig)
    listed = kubectl(f"--cache-dir={tmp_path / 'cache'}", "get", "deploy,svc,vs,dr", "-o", "json")
    objects = sorted(
        (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
        for o in json.loads(listed.stdout)["items"]
    )
    assert objects == [
        ("Deployment", "default", "link-manager"),
        ("DestinationRule", "default", "link-manager"),
        ("Service", "default", "link-manager"),
        ("VirtualService", "default", "link-manager"),
    ]
    assert f"kubeconfig written to {kubeconfig}; try:" in box.seen

    assert box.stop(signal.SIGINT) == 0
    assert box.seen[-1] == "sandbox stopped"
    assert "Traceback" not in box.stderr()
    assert not is_listening(port)


def test_up_without_example_serves_an_empty_cluster_and_stops_on_sigterm(
    up: type[Up], tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kc"
    box = up("--kubeconfig", str(kubeconfig))
    port = int(box.until(READY).group(2))  # signalled at once: from here on it must be clean
    assert is_listening(port)
    assert f"server: http://127.0.0.1:{port}" in kubeconfig.read_text()

    assert box.stop(signal.SIGTERM) == 0
    assert box.seen[-1] == "sandbox stopped"
    assert not is_listening(port)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "File '{path}' does not exist"),
        ("images: [\n", "{path}: invalid YAML at line 2"),
        ("nope: 1\n", "config: unknown field 'nope'"),
    ],
    ids=["missing", "bad-yaml", "unknown-field"],
)
def test_bad_config_is_exit_2_with_one_line_and_nothing_served(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    config = tmp_path / "sandbox.yaml"
    if content is not None:
        config.write_text(content)
    kubeconfig = tmp_path / "kc"

    proc = sandbox_up("--config", str(config), "--kubeconfig", str(kubeconfig))

    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected.format(path=config) in line
    assert proc.stdout == ""
    assert not kubeconfig.exists()


def test_port_in_use_is_exit_2_naming_the_port(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        proc = sandbox_up("--port", str(port), "--kubeconfig", str(kubeconfig))

    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line
    assert proc.stdout == ""
    assert not kubeconfig.exists()
