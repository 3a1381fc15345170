"""Metric providers: one PromQL instant query in, one number (or "no data") out.

Also the built-in query families (Flagger's "observers"): success rate, error rate and
latency quantiles for plain `http_*` metrics and for Istio's standard metrics, as
templates that `rollout.analysis` renders.

`PrometheusProvider` is the only code that imports `prometheus_api_client` (and
`requests`, `tenacity`): lazily, in its constructor, so `rollout --help` never pays for
them. It retries transient failures (connection errors, timeouts, 429/5xx) with
tenacity as `Settings.retry` says, and translates every `requests` error into
`errors.MetricsError`, chained with `from e`.
"""

from __future__ import annotations

import enum
import inspect
import math
import os
import re
import urllib.parse
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from rollout import errors
from rollout.settings import Settings
from rollout.spec import PrometheusSpec

if TYPE_CHECKING:
    import requests
    import tenacity

log = structlog.get_logger(__name__)

URL_ENV = "ROLLOUT_PROMETHEUS_URL"
TOKEN_ENV = "ROLLOUT_PROMETHEUS_TOKEN"
TOKEN_FILE_ENV = "ROLLOUT_PROMETHEUS_TOKEN_FILE"
ONLINE_QUERY = "vector(1)"


class MetricProvider(Protocol):
    """Where analysis gets numbers from (Flagger's `providers.Interface`)."""

    def query(self, promql: str) -> float | None:
        """The single value of `promql` now; None when there is no data (empty, NaN).

        Raises errors.MetricsError when the query cannot be answered.
        """
        ...

    def check_online(self) -> None:
        """Raise errors.MetricsError unless the provider answers queries."""
        ...


# -- built-in query families ----------------------------------------------------------


class Mesh(enum.Enum):
    """Which metric family the built-in templates read."""

    PLAIN = "plain"  # http_requests_total / http_request_duration_seconds_bucket, by pod
    ISTIO = "istio"  # istio_requests_total / istio_request_duration_milliseconds_bucket


@dataclass(frozen=True, slots=True)
class Template:
    """A built-in check: its query per mesh, and the units its bounds may be written in."""

    plain: str
    istio: str
    units: Mapping[str, float]  # suffix -> factor to the query's unit ("" always allowed)

    def for_mesh(self, mesh: Mesh) -> str:
        return self.istio if mesh is Mesh.ISTIO else self.plain


# The new version's traffic: by pod regex (plain), by destination workload (Istio).
_PLAIN = 'namespace="{{namespace}}",pod=~"{{canary_pods}}"'
_ISTIO = (
    'reporter="destination",destination_workload_namespace="{{namespace}}",'
    'destination_workload="{{canary}}"'
)


def _rate(metric: str, selector: str) -> str:
    return "sum(rate(" + metric + "{" + selector + "}[{{interval}}]))"


def _error_percent(metric: str, selector: str, code_label: str) -> str:
    # `or vector(0)`: a version that never answered a 5xx has no 5xx series at all, and
    # 0/0 (no requests) stays NaN -> inconclusive.
    failures = _rate(metric, selector + "," + code_label + '=~"5.."')
    return "100 * (" + failures + " or vector(0)) / " + _rate(metric, selector)


def _quantile(q: str, metric: str, selector: str) -> str:
    return (
        "histogram_quantile("
        + q
        + ", sum by (le) (rate("
        + metric
        + "{"
        + selector
        + "}[{{interval}}])))"
    )


_PLAIN_ERRORS = _error_percent("http_requests_total", _PLAIN, "code")
_ISTIO_ERRORS = _error_percent("istio_requests_total", _ISTIO, "response_code")
_PERCENT = {"%": 1.0}
BUILTINS: dict[str, Template] = {
    "success-rate": Template("100 - " + _PLAIN_ERRORS, "100 - " + _ISTIO_ERRORS, _PERCENT),
    "error-rate": Template(_PLAIN_ERRORS, _ISTIO_ERRORS, _PERCENT),
    **{
        f"latency-p{q}": Template(
            "1000 * " + _quantile(f"0.{q}", "http_request_duration_seconds_bucket", _PLAIN),
            _quantile(f"0.{q}", "istio_request_duration_milliseconds_bucket", _ISTIO),
            {"ms": 1.0, "s": 1000.0},
        )
        for q in ("50", "90", "95", "99")
    },
}
"""By check name. success-rate / error-rate: % of requests (0..100); latency-pNN: ms."""


class _HTTPStatusError(Exception):
    """Raised by our response hook on a 4xx/5xx answer; never leaves this module."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


class PrometheusProvider:
    """A MetricProvider over Prometheus's HTTP API (`/api/v1/query`), via prometheus-api-client.

    URL from `spec.url`, else $ROLLOUT_PROMETHEUS_URL. Bearer token from
    `spec.bearer_token`, else $ROLLOUT_PROMETHEUS_TOKEN, else the file named by
    $ROLLOUT_PROMETHEUS_TOKEN_FILE (read once, here). TLS: `spec.ca_file` verifies the
    server; `spec.insecure` skips verification.
    """

    def __init__(
        self, spec: PrometheusSpec, *, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        self.url = _url(spec.url or env.get(URL_ENV, ""))
        if spec.ca_file and not spec.insecure and not Path(spec.ca_file).is_file():
            raise errors.SpecError(f"Prometheus CA file {spec.ca_file}: no such file")
        headers = {"User-Agent": settings.user_agent}
        token = _bearer_token(spec, env)
        if token:
            headers["Authorization"] = f"Bearer {token}"

        import requests
        import tenacity
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        session = requests.Session()
        session.verify = False if spec.insecure else (spec.ca_file or True)
        session.hooks["response"].append(_raise_for_status)
        self._insecure = spec.insecure
        # Retries are ours (tenacity, below): the adapter must not retry on its own.
        self._connect = PrometheusConnect(
            self.url,
            headers=headers,
            disable_ssl=spec.insecure,
            session=session,
            retry=Retry(total=0, redirect=3, raise_on_status=False),
            timeout=settings.metrics_retry.request_timeout,
        )
        policy = settings.metrics_retry
        # tenacity 9.2 renamed `initial` to `multiplier` (same meaning) and warns on the old one
        params = inspect.signature(tenacity.wait_exponential_jitter).parameters
        first = "multiplier" if "multiplier" in params else "initial"
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(errors.TransientMetricsError),
            wait=tenacity.wait_exponential_jitter(
                **{first: policy.initial}, max=policy.maximum, jitter=policy.jitter
            ),
            stop=tenacity.stop_after_delay(policy.deadline),
            reraise=True,
            before_sleep=_log_retry,
        )

    def query(self, promql: str) -> float | None:
        result = self._retrying(self._query_once, promql)
        return _single_value(result, promql)

    def check_online(self) -> None:
        value = self.query(ONLINE_QUERY)
        if value != 1.0:
            raise errors.MetricsError(
                f"Prometheus {self.url}: {ONLINE_QUERY} returned {value}; "
                "is this the Prometheus server root URL?"
            )

    def close(self) -> None:
        """Release the HTTP connections."""
        self._connect.close()

    def __enter__(self) -> PrometheusProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query_once(self, promql: str) -> Any:
        import requests
        from prometheus_api_client.exceptions import PrometheusApiClientException
        from urllib3.exceptions import InsecureRequestWarning

        try:
            with warnings.catch_warnings():
                if self._insecure:  # the user asked for it; don't warn on every request
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                return self._connect.custom_query(promql)
        except _HTTPStatusError as e:
            raise _status_error(self.url, e, promql) from e
        except requests.exceptions.SSLError as e:
            raise errors.MetricsError(
                f"Prometheus {self.url}: TLS failed ({_reason(e)}); pass the server's CA "
                "file, or --insecure to skip verification"
            ) from e
        except (requests.ConnectionError, requests.Timeout) as e:
            raise errors.TransientMetricsError(
                f"Prometheus {self.url} unreachable ({_reason(e)})"
            ) from e
        except requests.RequestException as e:  # also a body that is not JSON
            raise errors.MetricsError(f"Prometheus {self.url}: {_reason(e)}") from e
        except (PrometheusApiClientException, KeyError, TypeError) as e:
            raise errors.MetricsError(
                f"Prometheus {self.url}: not a Prometheus API answer ({type(e).__name__}: {e})"
            ) from e


def _url(url: str) -> str:
    if not url:
        raise errors.SpecError(f"no Prometheus URL: pass --prometheus-url or set {URL_ENV}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.SpecError(
            f"Prometheus URL {url!r} is not an http(s) URL; e.g. http://prometheus.monitoring:9090"
        )
    return url.rstrip("/")


def _bearer_token(spec: PrometheusSpec, env: Mapping[str, str]) -> str | None:
    """spec.bearer_token, spec.token_file, $ROLLOUT_PROMETHEUS_TOKEN, $..._TOKEN_FILE."""
    if spec.bearer_token:
        return spec.bearer_token
    if spec.token_file:
        return _read_token(spec.token_file, "Prometheus token file")
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV].strip()
    path = env.get(TOKEN_FILE_ENV)
    return _read_token(path, TOKEN_FILE_ENV) if path else None


def _read_token(path: str, what: str) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as e:
        raise errors.SpecError(f"{what} {path}: cannot read the token ({e.strerror})") from e
    if not token:
        raise errors.SpecError(f"{what} {path}: the file is empty")
    return token


def _raise_for_status(response: requests.Response, *args: object, **kwargs: object) -> None:
    """requests response hook: turn a 4xx/5xx into _HTTPStatusError with Prometheus's reason."""
    if response.status_code < 400:
        return
    detail = response.text  # reads the body, so the connection goes back to the pool
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        detail = f"{body.get('errorType', 'error')}: {body['error']}"
    response.close()
    raise _HTTPStatusError(response.status_code, _one_line(detail)[:300] or response.reason)


def _status_error(url: str, e: _HTTPStatusError, promql: str) -> errors.MetricsError:
    if e.status == 429 or e.status >= 500:
        return errors.TransientMetricsError(f"Prometheus {url} answered {e}")
    if e.status in (401, 403):
        return errors.MetricsError(
            f"Prometheus {url} refused the query ({e}); check the bearer token "
            f"({TOKEN_ENV} or {TOKEN_FILE_ENV})"
        )
    if e.status == 404:
        return errors.MetricsError(
            f"Prometheus {url} has no /api/v1/query ({e}); is this the Prometheus server root URL?"
        )
    return errors.MetricsError(f"Prometheus rejected the query ({e}): {_one_line(promql)}")


def _single_value(result: Any, promql: str) -> float | None:
    """The one number in a `data.result`: a vector of <= 1 sample, or a scalar [ts, "v"]."""
    if not isinstance(result, list):
        raise errors.MetricsError(
            f"query returned {type(result).__name__}, not a vector: {_one_line(promql)}"
        )
    if len(result) == 2 and not isinstance(result[0], dict):
        raw = result[1]  # scalar (or string) result
    elif not result:
        return None
    elif len(result) > 1:
        raise errors.MetricsError(
            f"query returned {len(result)} series; aggregate it to one "
            f"(e.g. sum(...)): {_one_line(promql)}"
        )
    elif isinstance(result[0], dict) and isinstance(result[0].get("value"), list):
        raw = result[0]["value"][-1]
    else:
        raise errors.MetricsError(
            "query returned a range vector; make it an instant vector "
            f"(e.g. rate(...[1m])): {_one_line(promql)}"
        )
    try:
        value = float(raw)
    except (TypeError, ValueError) as e:
        raise errors.MetricsError(
            f"query returned {raw!r}, not a number: {_one_line(promql)}"
        ) from e
    return None if math.isnan(value) else value


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("metrics.retry", attempt=state.attempt_number, wait=round(wait, 3), error=str(exc))


def _reason(e: BaseException) -> str:
    """The innermost useful text of a requests/urllib3 error, on one line."""
    text = str(e.args[0]) if e.args else type(e).__name__
    text = str(getattr(e.args[0], "reason", text)) if e.args else text
    text = re.sub(r"<urllib3\.[^>]*>:?\s*|\w*HTTPS?Connection\([^)]*\):\s*", "", text)
    return _one_line(text)[:200]


def _one_line(text: str) -> str:
    return " ".join(text.split())
