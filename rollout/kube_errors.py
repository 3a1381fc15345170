"""Kubernetes client failures -> rollout.errors, and the one retry policy for API calls.

A "kube" module: with kube.py and kube_watch.py the only code allowed to touch the
kubernetes client. It imports kubernetes/urllib3 only inside functions, after
`Cluster.connect` has loaded them, so importing it costs nothing at CLI start.

Every error it builds is a `rollout.errors.KubeError` whose message reads
`<Kind> <ns>/<name>: <what> (<evidence>)[; <what to do>]`, made from the API's `Status`
body (code, reason, message) when there is one, and raised `from` the client exception.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

import structlog
import tenacity

from rollout import errors
from rollout.settings import RetrySettings

log = structlog.get_logger(__name__)

MAX_EVIDENCE = 300  # characters of an API message kept in an error message


class Status(TypedDict, total=False):
    """The `Status` body the API answers errors with (and watch ERROR events carry)."""

    kind: str
    apiVersion: str
    status: str
    message: str
    reason: str
    code: int
    details: dict[str, Any]


class Throttled(errors.ServerError):
    """429 (or 503) with a Retry-After header: retry, but not before `retry_after` seconds."""

    def __init__(self, message: str, *, code: int, reason: str, retry_after: float) -> None:
        super().__init__(message, code=code, reason=reason)
        self.retry_after = retry_after


class Expired(errors.KubeError):
    """410 Gone: a watch's resourceVersion is older than the server's history.

    Handled inside kube_watch (re-list); never leaves a public Cluster method.
    """


@dataclass(slots=True)
class Call:
    """One logical API request: what it is for (messages, retry logs) and what to send."""

    verb: str  # get, list, watch, create, update, patch, delete
    method: str  # HTTP method
    path: str
    subject: str  # "Deployment shop/web", for messages
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    content_type: str = "application/json"
    timeout: float | tuple[float, float] | None = None
    attempts: int = 0  # HTTP attempts made so far (create uses it to spot a lost response)


# -- translation -------------------------------------------------------------------


def translate(exc: BaseException, call: Call) -> errors.KubeError:
    """The rollout error for a client exception raised while making `call`."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException) and exc.status:
        status = parse_status(exc.body, int(exc.status), str(exc.reason or ""))
        return from_status(status, call, retry_after=_retry_after(exc.headers))
    code, reason, evidence = describe(exc)
    what = f"{call.verb} failed"
    cls: type[errors.KubeError] = errors.ServerError
    hint = ""
    if reason == "TLSError":
        cls, hint = errors.KubeError, "; check the kubeconfig's certificate-authority and server"
    elif reason == "ClientError":
        cls = errors.KubeError
    return cls(f"{call.subject}: {what} ({evidence}){hint}", code=code, reason=reason)


def from_status(
    status: Status, call: Call, *, retry_after: float | None = None
) -> errors.KubeError:
    """The rollout error for an API `Status` (an HTTP error body or a watch ERROR event)."""
    code = int(status.get("code") or 0)
    reason = str(status.get("reason") or "")
    evidence = f"{code} {reason}: {_one_line(str(status.get('message') or ''))}".rstrip(": ")
    cls: type[errors.KubeError]
    hint = ""
    if code == 404:
        cls, what = errors.NotFound, "not found"
    elif code == 409:
        cls = errors.Conflict
        what = "already exists" if reason == "AlreadyExists" else f"{call.verb} conflict"
    elif code == 403:
        cls, what = errors.Forbidden, f"{call.verb} forbidden"
        hint = "; check the RBAC permissions of the kubeconfig's user"
    elif code == 401:
        cls, what = errors.KubeError, f"{call.verb} unauthorized"
        hint = "; check the kubeconfig's credentials"
    elif code in (400, 415, 422):
        cls, what = errors.Invalid, f"{call.verb} rejected as invalid"
    elif code == 410:
        cls, what = Expired, f"{call.verb} expired"
    elif code in (408, 429) or code >= 500:
        message = f"{call.subject}: {call.verb} failed ({evidence})"
        if retry_after is not None:
            return Throttled(message, code=code, reason=reason, retry_after=retry_after)
        return errors.ServerError(message, code=code, reason=reason)
    else:
        cls, what = errors.KubeError, f"{call.verb} failed"
    return cls(f"{call.subject}: {what} ({evidence}){hint}", code=code, reason=reason)


def describe(exc: BaseException) -> tuple[int, str, str]:
    """(code, reason, evidence) for a client exception; code 0 when no HTTP status came back.

    Reasons: ConnectionFailed (nothing answered), Timeout, ConnectionReset (a broken
    response), TLSError, BadResponse, ClientError (a kubernetes client error).
    """
    import http.client

    import urllib3.exceptions as u3
    from kubernetes.client.exceptions import ApiException

    text = _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        reason = "TLSError" if "SSLError" in str(exc.reason) else "ClientError"
        return status, reason, f"{type(exc).__name__}: {_one_line(str(exc.reason))}"
    if isinstance(exc, u3.SSLError):
        return 0, "TLSError", text
    if isinstance(exc, (u3.NewConnectionError, u3.ProxyError)):
        return 0, "ConnectionFailed", text
    if isinstance(exc, (u3.ConnectTimeoutError, u3.ReadTimeoutError, TimeoutError)):
        return 0, "Timeout", text
    if isinstance(exc, (u3.HTTPError, http.client.HTTPException, OSError)):
        return 0, "ConnectionReset", text
    if isinstance(exc, ValueError):
        return 0, "BadResponse", text
    return 0, "ClientError", text


def evidence(err: errors.KubeError) -> str:
    """Short evidence for `err`: "503 ServiceUnavailable", or the connection failure."""
    if err.code:
        return f"{err.code} {err.reason}"
    if err.__cause__ is not None and not isinstance(err.__cause__, errors.RolloutError):
        return describe(err.__cause__)[2]
    return err.reason or str(err)


def client_errors() -> tuple[type[BaseException], ...]:
    """Everything the client and urllib3 raise for a failed request (translate() input)."""
    import http.client

    import urllib3.exceptions as u3
    from kubernetes.client.exceptions import OpenApiException

    return (OpenApiException, u3.HTTPError, http.client.HTTPException, OSError, ValueError)


def is_unreachable(err: BaseException) -> bool:
    """True for a ServerError that means nothing answered (no HTTP status at all)."""
    return (
        isinstance(err, errors.ServerError)
        and err.code == 0
        and err.reason in ("ConnectionFailed", "Timeout")
    )


def parse_status(body: object, code: int, reason: str) -> Status:
    """The `Status` in an error body; a synthetic one when the body is not a Status."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        status: Status = {"code": code, **doc}  # type: ignore[typeddict-item]
        return status
    return {"code": code, "reason": reason, "message": text[:MAX_EVIDENCE]}


def _retry_after(headers: object) -> float | None:
    get = getattr(headers, "get", None)
    value = get("Retry-After") if callable(get) else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date; rare from kube-apiserver, treat as 1 s
        return 1.0


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_EVIDENCE else line[: MAX_EVIDENCE - 1] + "…"


# -- retries -----------------------------------------------------------------------


class _WaitAtLeastRetryAfter(tenacity.wait.wait_base):
    """Exponential jittered backoff, but never shorter than the server's Retry-After."""

    def __init__(self, backoff: tenacity.wait.wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        wait = self.backoff(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Throttled):
            wait = max(wait, exc.retry_after)
        return wait


def _log_retry_quietly(retry_state: tenacity.RetryCallState) -> None:
    """Preflight retries: debug only, so a bad kubeconfig ends in one error line."""
    log.debug("kube.retry", attempt=retry_state.attempt_number)


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    call = retry_state.args[0] if retry_state.args else None
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    log.warning(
        "kube.retry",
        attempt=retry_state.attempt_number,
        verb=getattr(call, "verb", None),
        path=getattr(call, "path", None),
        code=getattr(exc, "code", None),
        reason=getattr(exc, "reason", None),
        wait=round(retry_state.next_action.sleep if retry_state.next_action else 0.0, 3),
    )


def retry_policy(
    settings: RetrySettings,
    *,
    sleep: Callable[[float], None] | None = None,
    stop: tenacity.stop.stop_base | None = None,
    quiet: bool = False,
) -> tenacity.Retrying:
    """Retry TransientError with jittered exponential backoff until `settings.deadline`.

    Call it as `policy(fn, call, ...)`: the retry log reads verb/path from `call`.
    Tenacity keeps per-call state thread-locally, so one policy serves all threads.
    """
    # tenacity 9.2 renamed `initial` to `multiplier` (same meaning) and warns on the old name
    params = inspect.signature(tenacity.wait_exponential_jitter).parameters
    first = "multiplier" if "multiplier" in params else "initial"
    backoff = tenacity.wait_exponential_jitter(
        **{first: settings.initial}, max=settings.maximum, jitter=settings.jitter
    )
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(errors.TransientError),
        wait=_WaitAtLeastRetryAfter(backoff),
        stop=stop or tenacity.stop_after_delay(settings.deadline),
        reraise=True,
        before_sleep=_log_retry_quietly if quiet else _log_retry,
        sleep=sleep or tenacity.nap.sleep,  # tests pass a recorder
    )


class _StopWhenUnreachable(tenacity.stop.stop_base):
    """Stop when the last attempt failed without any answer (see is_unreachable)."""

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return exc is not None and is_unreachable(exc)


def reachability_stop(settings: RetrySettings, attempts: int = 3) -> tenacity.stop.stop_base:
    """The deadline, or `attempts` tries when nothing answers at all (a wrong address)."""
    return tenacity.stop_any(
        tenacity.stop_after_delay(settings.deadline),
        tenacity.stop_all(tenacity.stop_after_attempt(attempts), _StopWhenUnreachable()),
    )
