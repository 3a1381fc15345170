"""Interrupts of a running rollout: SIGINT/SIGTERM, and abort requests left on the
Deployment by another process (`rollout abort`), both become KeyboardInterrupt in the
main thread, which the engine turns into a rollback. A rollback itself is not
interruptible.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import structlog

from rollout import errors, kube, state
from rollout.settings import Settings
from rollout.spec import ObjectRef
from rollout.state import Request

log = structlog.get_logger(__name__)
ABORT_WATCH_SECONDS = 5.0

Handler = Callable[[int, FrameType | None], object] | int | None
"""A signal disposition as `signal.signal` takes and returns it (None: not set from Python)."""


@contextlib.contextmanager
def watch_for_abort(
    cluster: kube.Cluster, target: ObjectRef, settings: Settings
) -> Iterator[threading.Event]:
    """SIGTERM behaves like Ctrl-C; an abort request interrupts the main thread too.
    Yields the event that says the interrupt was an abort request (not a signal)."""
    aborted, done = threading.Event(), threading.Event()
    previous = install(signal.SIGTERM, signal.default_int_handler)

    def watch() -> None:
        while not done.is_set():
            try:
                cluster.wait_for(
                    kube.Resource.DEPLOYMENT,
                    target,
                    lambda o: (
                        done.is_set() or (o is not None and state.read_request(o) is Request.ABORT)
                    ),
                    # short watches, so the thread ends soon after the rollout does
                    timeout=min(settings.watch_timeout, ABORT_WATCH_SECONDS),
                    describe="abort request",
                )
            except errors.WaitTimeout:
                continue
            except errors.RolloutError as e:
                if done.is_set():  # the rollout is over (and its Cluster maybe closed)
                    return
                log.warning("abort_watch.failed", error=str(e))
                done.wait(settings.lease_renew)
                continue
            if not done.is_set():
                interrupt_once(aborted)
                return

    watcher = threading.Thread(target=watch, name="rollout-abort-watch", daemon=True)
    watcher.start()
    try:
        yield aborted
    finally:
        done.set()
        install(signal.SIGTERM, previous)


_ABORT_CLAIM = threading.Lock()


def raise_if_aborted(aborted: threading.Event) -> None:
    """KeyboardInterrupt now if an abort was requested: the asynchronous interrupt can be
    lost (a signal landing in a generator's finalizer is only printed), so the engine
    also checks the flag at every step and gate boundary."""
    if aborted.is_set():
        raise KeyboardInterrupt


def interrupt_once(aborted: threading.Event) -> None:
    """Set `aborted` and interrupt the main thread, once (the abort watcher and a pause
    may both see the same request). A real SIGINT to the main thread also breaks a
    blocking socket read (a watch, a Prometheus query), which `interrupt_main` cannot."""
    with _ABORT_CLAIM:
        if not aborted.is_set():
            aborted.set()
            main = threading.main_thread()
            if threading.current_thread() is main or main.ident is None:
                _thread.interrupt_main()
            else:
                signal.pthread_kill(main.ident, signal.SIGINT)


def install(signum: int, handler: Handler) -> Handler:
    """Install a signal handler when we are the main thread (tests may not be)."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signum, handler)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while rolling back: a second Ctrl-C must not stop the way back."""
    held = [install(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]
    try:
        yield
    finally:
        for s, h in zip((signal.SIGINT, signal.SIGTERM), held, strict=True):
            install(s, h)
