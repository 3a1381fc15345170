"""Run a real Prometheus (the `prometheus` binary) on loopback, scraping the sandbox.

Used by `rollout demo` and the test suite. Starts a process; knows nothing of rollout.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml


class PrometheusError(RuntimeError):
    """Prometheus could not be started or did not become ready."""


def is_installed(binary: str = "prometheus") -> bool:
    """True when the Prometheus binary is on PATH."""
    return shutil.which(binary) is not None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusServer:
    """A throwaway Prometheus scraping `targets` (host:port) every `scrape_interval`."""

    def __init__(
        self, targets: list[str], *, scrape_interval: str = "1s", binary: str = "prometheus"
    ) -> None:
        self.targets, self.scrape_interval, self.binary = targets, scrape_interval, binary
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="rollout-prometheus-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        """Start the process and wait until it answers /-/ready."""
        config = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": [
                {
                    "job_name": "sandbox",
                    "honor_labels": True,
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }
        (self._dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        try:
            with (self._dir / "prometheus.log").open("wb") as log:  # the child keeps its copy
                self._proc = subprocess.Popen(
                    [
                        self.binary,
                        f"--config.file={self._dir / 'prometheus.yml'}",
                        f"--storage.tsdb.path={self._dir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        except OSError as e:
            raise PrometheusError(f"cannot start {self.binary}: {e.strerror}") from e
        self._wait(lambda: self._get("/-/ready") is not None, timeout, "become ready")
        return self

    def wait_for_scrape(self, timeout: float = 30.0) -> None:
        """Block until every target has been scraped successfully at least once."""

        def scraped() -> bool:
            body = self._get("/api/v1/targets")
            if body is None:
                return False
            active = json.loads(body)["data"]["activeTargets"]
            return bool(active) and all(t.get("health") == "up" for t in active)

        self._wait(scraped, timeout, "scrape the sandbox")

    def stop(self) -> None:
        """Terminate the process and remove its data."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                return resp.read() if resp.status == 200 else None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def _wait(self, check: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with {self._proc.returncode}; "
                    f"see {self._dir / 'prometheus.log'}"
                )
            if check():  # type: ignore[operator]
                return
            pause.wait(0.1)  # Prometheus has no watch API: a short bounded poll
        raise PrometheusError(f"prometheus did not {what} within {timeout:.0f}s")
