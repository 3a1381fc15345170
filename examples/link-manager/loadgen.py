"""Load generator for link-manager: steady requests so Prometheus has something to judge.
Python standard library only; ships in the link-manager image (`python loadgen.py`).

    TARGET_URL        default http://link-manager/links
    RATE              requests per second in total (default 20)
    WORKERS           concurrent senders (default 4)
    POST_FRACTION     share of requests that POST a new link (default 0.1)
    HEADER_FRACTION   share that carry `x-canary: true`, for header-match A/B (default 0.1)
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """What the environment asked for."""

    target_url: str = "http://link-manager/links"
    rate: float = 20.0
    workers: int = 4
    post_fraction: float = 0.1
    header_fraction: float = 0.1

    @classmethod
    def from_env(cls) -> LoadConfig:
        env = os.environ
        return cls(
            target_url=env.get("TARGET_URL", "http://link-manager/links"),
            rate=float(env.get("RATE", "20")),
            workers=int(env.get("WORKERS", "4")),
            post_fraction=float(env.get("POST_FRACTION", "0.1")),
            header_fraction=float(env.get("HEADER_FRACTION", "0.1")),
        )


def send_one(config: LoadConfig, dice: random.Random) -> int:
    """One request; the HTTP status (0 when the connection failed)."""
    headers = {"Content-Type": "application/json"}
    if dice.random() < config.header_fraction:
        headers["x-canary"] = "true"
    data = None
    if dice.random() < config.post_fraction:
        data = json.dumps({"url": f"https://example.com/{dice.randrange(10**6)}"}).encode()
    request = urllib.request.Request(config.target_url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def worker(config: LoadConfig, stop: threading.Event, seed: int) -> None:
    """Send at RATE / WORKERS per second until `stop` is set."""
    dice = random.Random(seed)
    period = config.workers / config.rate
    next_at = time.monotonic()
    while not stop.is_set():
        send_one(config, dice)
        next_at += period
        stop.wait(max(0.0, next_at - time.monotonic()))


def main() -> int:
    config = LoadConfig.from_env()
    if config.rate <= 0 or config.workers < 1:
        print("loadgen: RATE must be > 0 and WORKERS >= 1", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"loadgen: {config.rate:g} req/s to {config.target_url}", flush=True)
    threads = [
        threading.Thread(target=worker, args=(config, stop, i), daemon=True)
        for i in range(config.workers)
    ]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(timeout=6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
