"""kube_errors: client exceptions -> rollout errors, and the retry policy. No sockets.

The inputs are the kubernetes client's and urllib3's own exception objects built by
hand: they are what our wrapper receives, not a mock of a cluster.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
import urllib3
import urllib3.exceptions as u3
from kubernetes.client import exceptions as client_exceptions
from kubernetes.config import config_exception
from structlog.testing import capture_logs

from rollout import errors, kube_errors
from rollout.kube_errors import Call
from rollout.settings import FAST, RetrySettings

CALL = Call("get", "GET", "/apis/apps/v1/namespaces/shop/deployments/web", "Deployment shop/web")


def api_exception(
    code: int,
    reason: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> client_exceptions.ApiException:
    """An ApiException as the client raises it for an HTTP error with a Status body."""
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    resp = urllib3.HTTPResponse(
        body=body if body is not None else json.dumps(status).encode(),
        status=code,
        reason=reason,
        headers=headers or {},
        preload_content=True,
    )
    return client_exceptions.ApiException(http_resp=resp)


@pytest.mark.parametrize(
    ("code", "reason", "cls", "what"),
    [
        (400, "BadRequest", errors.Invalid, "get rejected as invalid"),
        (401, "Unauthorized", errors.KubeError, "get unauthorized"),
        (403, "Forbidden", errors.Forbidden, "get forbidden"),
        (404, "NotFound", errors.NotFound, "not found"),
        (409, "Conflict", errors.Conflict, "get conflict"),
        (409, "AlreadyExists", errors.Conflict, "already exists"),
        (410, "Expired", kube_errors.Expired, "get expired"),
        (415, "UnsupportedMediaType", errors.Invalid, "get rejected as invalid"),
        (422, "Invalid", errors.Invalid, "get rejected as invalid"),
        (429, "TooManyRequests", errors.ServerError, "get failed"),
        (500, "InternalError", errors.ServerError, "get failed"),
        (503, "ServiceUnavailable", errors.ServerError, "get failed"),
        (504, "Timeout", errors.ServerError, "get failed"),
        (405, "MethodNotAllowed", errors.KubeError, "get failed"),
    ],
)
def test_status_codes_map_to_rollout_errors_with_code_reason_and_message(
    code: int, reason: str, cls: type[errors.KubeError], what: str
) -> None:
    exc = api_exception(code, reason, f"the {reason} message")
    err = kube_errors.translate(exc, CALL)
    assert type(err) is cls
    assert (err.code, err.reason) == (code, reason)
    assert str(err).startswith(
        f"Deployment shop/web: {what} ({code} {reason}: the {reason} message)"
    )
    assert err.exit_code == 5
    assert isinstance(err, errors.TransientError) == (code in (429, 500, 503, 504))


def test_forbidden_says_what_to_check() -> None:
    err = kube_errors.translate(api_exception(403, "Forbidden", "no"), CALL)
    assert str(err).endswith("; check the RBAC permissions of the kubeconfig's user")


def test_retry_after_header_makes_a_throttled_error() -> None:
    exc = api_exception(429, "TooManyRequests", "slow down", headers={"Retry-After": "2"})
    err = kube_errors.translate(exc, CALL)
    assert isinstance(err, kube_errors.Throttled)
    assert err.retry_after == 2.0
    assert isinstance(err, errors.TransientError)


def test_body_that_is_not_a_status_is_kept_as_evidence() -> None:
    exc = api_exception(502, "Bad Gateway", "", body=b"<html>\n<b>upstream down</b>\n</html>")
    err = kube_errors.translate(exc, CALL)
    assert isinstance(err, errors.ServerError)
    assert "<html> <b>upstream down</b> </html>" in str(err)
    assert "\n" not in str(err)


def test_long_messages_are_cut_to_one_short_line() -> None:
    err = kube_errors.translate(api_exception(422, "Invalid", "x\n" * 1000), CALL)
    assert len(str(err)) < kube_errors.MAX_EVIDENCE + 100
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("exc", "cls", "reason"),
    [
        (
            u3.NewConnectionError(
                None, "Failed to establish a new connection: [Errno 111] Connection refused"
            ),
            errors.ServerError,
            "ConnectionFailed",
        ),
        (u3.ConnectTimeoutError("connect timed out"), errors.ServerError, "Timeout"),
        (u3.ReadTimeoutError(None, "/x", "Read timed out."), errors.ServerError, "Timeout"),
        (
            u3.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
            errors.ServerError,
            "ConnectionReset",
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            errors.ServerError,
            "ConnectionReset",
        ),
        (u3.SSLError("certificate verify failed"), errors.KubeError, "TLSError"),
        (
            client_exceptions.ApiException(status=0, reason="SSLError\ncertificate verify failed"),
            errors.KubeError,
            "TLSError",
        ),
    ],
)
def test_transport_failures_map_to_rollout_errors(
    exc: BaseException, cls: type[errors.KubeError], reason: str
) -> None:
    err = kube_errors.translate(exc, CALL)
    assert type(err) is cls
    assert (err.code, err.reason) == (0, reason)
    assert str(err).startswith("Deployment shop/web: get failed (")
    assert kube_errors.is_unreachable(err) == (reason in ("ConnectionFailed", "Timeout"))


def _exception_classes(*modules: Any) -> list[type[BaseException]]:
    return [
        obj
        for module in modules
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == module.__name__
    ]


FOREIGN = _exception_classes(client_exceptions, config_exception, u3)
OURS = _exception_classes(errors) + _exception_classes(kube_errors)


def test_no_client_exception_is_a_base_of_a_rollout_error() -> None:
    assert len(FOREIGN) > 20 and len(OURS) > 10
    for ours in OURS:
        leaked = [base for base in ours.__mro__ if base in FOREIGN]
        assert leaked == [], f"{ours.__name__} inherits {leaked}"
        assert all(
            base.__module__.split(".")[0] in ("rollout", "builtins") for base in ours.__mro__
        ), ours


def _instance(cls: type[BaseException]) -> BaseException | None:
    candidates: list[tuple[Any, ...]] = [
        (),
        ("message",),
        (0, 10),
        (None, "message"),
        (None, "/path", "message"),
        (urllib3.HTTPResponse(body=b""), b"zz"),
    ]
    for args in candidates:
        try:
            exc = cls(*args)
            str(exc)
        except (TypeError, ValueError, AttributeError):
            continue
        return exc
    return None


@pytest.mark.parametrize(
    "cls",
    [c for c in FOREIGN if c.__module__ != config_exception.__name__],
    ids=lambda c: c.__name__,
)
def test_every_client_exception_translates_to_a_kube_error(cls: type[BaseException]) -> None:
    exc = _instance(cls)
    if exc is None:
        pytest.skip(f"{cls.__name__} needs constructor arguments we cannot guess")
    err = kube_errors.translate(exc, CALL)
    assert isinstance(err, errors.KubeError)
    assert not isinstance(err, tuple(FOREIGN))


# -- retry policy ------------------------------------------------------------------


class Flaky:
    """Raises the given errors in turn, then returns "ok"."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, call: Call) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_policy_honours_retry_after_over_a_shorter_backoff() -> None:
    slept: list[float] = []
    policy = kube_errors.retry_policy(FAST.retry, sleep=slept.append)
    throttled = kube_errors.Throttled("slow", code=429, reason="TooManyRequests", retry_after=1.5)
    flaky = Flaky(throttled, errors.ServerError("boom", code=503))
    assert policy(flaky, CALL) == "ok"
    assert slept == [1.5, 0.0]
    assert flaky.calls == 3


def test_policy_backs_off_exponentially_up_to_the_maximum() -> None:
    slept: list[float] = []
    retry = RetrySettings(initial=0.1, maximum=0.3, jitter=0.0, deadline=60)
    policy = kube_errors.retry_policy(retry, sleep=slept.append)
    assert policy(Flaky(*[errors.ServerError("x", code=500) for _ in range(4)]), CALL) == "ok"
    assert slept == pytest.approx([0.1, 0.2, 0.3, 0.3])


def test_policy_does_not_retry_permanent_errors() -> None:
    flaky = Flaky(errors.NotFound("gone", code=404))
    with pytest.raises(errors.NotFound):
        kube_errors.retry_policy(FAST.retry, sleep=lambda s: None)(flaky, CALL)
    assert flaky.calls == 1


def test_policy_logs_each_retry_with_attempt_verb_path_and_code() -> None:
    policy = kube_errors.retry_policy(FAST.retry, sleep=lambda s: None)
    with capture_logs() as logs:
        policy(Flaky(errors.ServerError("x", code=503, reason="ServiceUnavailable")), CALL)
    assert logs == [
        {
            "event": "kube.retry",
            "log_level": "warning",
            "attempt": 1,
            "verb": "get",
            "path": CALL.path,
            "code": 503,
            "reason": "ServiceUnavailable",
            "wait": 0.0,
        }
    ]


def test_reachability_gives_up_after_three_attempts_when_nothing_answers() -> None:
    stop = kube_errors.reachability_stop(RetrySettings(deadline=60))
    policy = kube_errors.retry_policy(FAST.retry, sleep=lambda s: None, stop=stop)
    refused = [errors.ServerError("refused", code=0, reason="ConnectionFailed") for _ in range(9)]
    flaky = Flaky(*refused)
    with pytest.raises(errors.ServerError):
        policy(flaky, CALL)
    assert flaky.calls == 3
    unavailable = Flaky(*[errors.ServerError("busy", code=503) for _ in range(5)])
    assert policy(unavailable, CALL) == "ok"  # a server that answers is given the full budget
