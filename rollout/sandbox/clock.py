"""The sandbox clock: real time, with every sandbox duration divided by `speed`.

Startup delays, minReadySeconds and progress deadlines are sandbox durations, so a
test can run a 1 s startup in 20 ms (speed 50) without changing any semantics.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Monotonic time plus the speed factor applied to sandbox durations."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed

    def now(self) -> float:
        """Monotonic seconds (real time)."""
        return time.monotonic()

    def real(self, sandbox_seconds: float) -> float:
        """How long a sandbox duration lasts in real seconds."""
        return sandbox_seconds / self.speed

    def wait(self, event: threading.Event, real_seconds: float) -> bool:
        """Block until `event` is set or `real_seconds` pass; True if the event was set."""
        return event.wait(max(real_seconds, 0.0))
