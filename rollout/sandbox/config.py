"""Sandbox configuration: per-image behaviour, per-Service traffic and the clock speed.

Parses and validates a YAML file or a plain dict into frozen values, raising
`ConfigError` (one line naming the field) on bad input. It reads only the file handed
to `from_yaml`; it never touches the object store, HTTP, threads or the clock.
"""

from __future__ import annotations

import fnmatch
import math
import random
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_Z99 = statistics.NormalDist().inv_cdf(0.99)
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(us|ms|s|m|h)")
_DURATION = re.compile(rf"-?(?:{_DURATION_PART.pattern})+")
_DEFAULT_SPREAD = 5.0  # p99 / p50 when only one of them is given
DEFAULT_KEY = "default"


class ConfigError(ValueError):
    """Invalid sandbox configuration; the message is one line naming the field."""


@dataclass(frozen=True, slots=True)
class Latency:
    """A lognormal latency distribution fixed by its median and 99th percentile (seconds)."""

    p50: float = 0.010
    p99: float = 0.050

    @property
    def sigma(self) -> float:
        """Standard deviation of log-latency (0 when the distribution is constant)."""
        if self.p50 <= 0 or self.p99 <= self.p50:
            return 0.0
        return math.log(self.p99 / self.p50) / _Z99

    def quantile(self, q: float) -> float:
        """The q-quantile (0 < q < 1) in seconds."""
        if self.sigma == 0.0:
            return self.p50
        return self.p50 * math.exp(self.sigma * statistics.NormalDist().inv_cdf(q))

    def sample(self, rng: random.Random) -> float:
        """One latency in seconds."""
        if self.sigma == 0.0:
            return self.p50
        return rng.lognormvariate(math.log(self.p50), self.sigma)


@dataclass(frozen=True, slots=True)
class ImageBehaviour:
    """How pods running one image answer and start."""

    error_rate: float = 0.0  # fraction of requests answered 5xx
    error_codes: tuple[tuple[int, float], ...] = ((500, 1.0),)  # (code, share), shares sum to 1
    latency: Latency = Latency()
    startup_delay: float = 1.0  # seconds from creation to Ready, before `speed` scaling
    crash_loop: bool = False
    never_ready: bool = False

    def sample_code(self, rng: random.Random) -> int:
        """An HTTP status code: 200, or a 5xx with probability `error_rate`."""
        if self.error_rate <= 0.0 or rng.random() >= self.error_rate:
            return 200
        codes = [code for code, _ in self.error_codes]
        shares = [share for _, share in self.error_codes]
        return rng.choices(codes, shares)[0]

    def sample_latency(self, rng: random.Random) -> float:
        """A response latency in seconds."""
        return self.latency.sample(rng)


@dataclass(frozen=True, slots=True)
class HeaderRule:
    """A `fraction` of a Service's requests carry these (lower-cased) headers."""

    fraction: float
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ServiceTraffic:
    """Request rate (per real second; `speed` does not apply) and header mix of a Service."""

    rate: float = 10.0
    headers: tuple[HeaderRule, ...] = ()

    def pick_headers(self, rng: random.Random) -> dict[str, str]:
        """Headers for one request: the rule its draw falls in, or none."""
        if not self.headers:
            return {}
        draw = rng.random()
        for rule in self.headers:
            if draw < rule.fraction:
                return dict(rule.headers)
            draw -= rule.fraction
        return {}


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Per-image behaviour, per-Service traffic and the clock factor of one sandbox."""

    images: Mapping[str, ImageBehaviour] = field(default_factory=dict, hash=False)
    traffic: Mapping[str, ServiceTraffic] = field(default_factory=dict, hash=False)
    speed: float = 1.0

    @classmethod
    def default(cls) -> SandboxConfig:
        """Healthy images (p50 10ms, p99 50ms, Ready after 1s), 10 req/s per Service."""
        return cls()

    @classmethod
    def from_yaml(cls, path: str | Path) -> SandboxConfig:
        """Load and validate a YAML file; an empty file gives the default."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read sandbox config ({e.strerror})") from e
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            problem = getattr(e, "problem", None) or type(e).__name__
            raise ConfigError(f"{path}: invalid YAML{line}: {problem}") from e
        return cls.from_dict({} if data is None else data)

    @classmethod
    def from_dict(cls, data: object) -> SandboxConfig:
        """Validate a parsed mapping with optional keys `speed`, `images`, `traffic`."""
        top = _mapping(data, "config")
        _reject_unknown(top, {"speed", "images", "traffic"}, "config")
        speed = _number(top.get("speed", 1.0), "speed")
        if speed <= 0:
            raise ConfigError(f"speed: must be > 0, got {speed:g}")
        images = {
            key: _image(value, f"images[{key}]")
            for key, value in _keyed(top.get("images", {}), "images").items()
        }
        traffic = {
            key: _traffic(value, f"traffic[{key}]")
            for key, value in _keyed(top.get("traffic", {}), "traffic").items()
        }
        return cls(images=images, traffic=traffic, speed=speed)

    def behaviour_for(self, image: str) -> ImageBehaviour:
        """Exact `repo:tag`, else the first matching glob (`*:v3`), else `default`."""
        ref = normalize_image(image)
        for key in (ref, image):
            if key in self.images:
                return self.images[key]
        for pattern, behaviour in self.images.items():
            if "*" in pattern and fnmatch.fnmatchcase(ref, pattern):
                return behaviour
        return self.images.get(DEFAULT_KEY, ImageBehaviour())

    def traffic_for(self, namespace: str, name: str) -> ServiceTraffic:
        """Traffic for `namespace/name`, else `name`, else `default`."""
        for key in (f"{namespace}/{name}", name, DEFAULT_KEY):
            if key in self.traffic:
                return self.traffic[key]
        return ServiceTraffic()

    def scaled(self, seconds: float) -> float:
        """A sandbox duration (startup delay, minReadySeconds, deadline) divided by `speed`."""
        return seconds / self.speed


def normalize_image(image: str) -> str:
    """The image reference without digest, with `:latest` added when it has no tag."""
    ref = image.split("@", 1)[0]
    if ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


def parse_duration(value: object, *, where: str = "duration") -> float:
    """Seconds from a number or a string like `250ms`, `2s`, `1m30s`; raises ConfigError."""
    if isinstance(value, str):
        text = value.strip()
        if _DURATION.fullmatch(text):
            sign = -1.0 if text.startswith("-") else 1.0
            parts = _DURATION_PART.findall(text)
            seconds = sign * sum(float(num) * _UNIT_SECONDS[unit] for num, unit in parts)
        else:
            seconds = _number(text, where, hint="a duration like 250ms, 2s or 1m")
    else:
        seconds = _number(value, where, hint="a duration like 250ms, 2s or 1m")
    if seconds < 0:
        raise ConfigError(f"{where}: must not be negative, got {value!r}")
    return seconds


def _image(data: object, where: str) -> ImageBehaviour:
    entry = _mapping(data, where)
    _reject_unknown(
        entry,
        {"error_rate", "error_codes", "latency", "startup_delay", "crash_loop", "never_ready"},
        where,
    )
    error_rate = _number(entry.get("error_rate", 0.0), f"{where}.error_rate")
    if not 0.0 <= error_rate <= 1.0:
        raise ConfigError(f"{where}.error_rate: must be between 0 and 1, got {error_rate:g}")
    return ImageBehaviour(
        error_rate=error_rate,
        error_codes=_error_codes(entry.get("error_codes", {500: 1}), f"{where}.error_codes"),
        latency=_latency(entry.get("latency", {}), f"{where}.latency"),
        startup_delay=parse_duration(
            entry.get("startup_delay", 1.0), where=f"{where}.startup_delay"
        ),
        crash_loop=_flag(entry.get("crash_loop", False), f"{where}.crash_loop"),
        never_ready=_flag(entry.get("never_ready", False), f"{where}.never_ready"),
    )


def _error_codes(data: object, where: str) -> tuple[tuple[int, float], ...]:
    if isinstance(data, list):
        data = dict.fromkeys(data, 1)
    entries = _mapping(data, where, hint="a mapping like {500: 0.5, 503: 0.5} or a list")
    if not entries:
        raise ConfigError(f"{where}: must name at least one 5xx code")
    pairs: list[tuple[int, float]] = []
    for raw_code, raw_share in entries.items():
        code = _number(raw_code, f"{where} key", hint="an HTTP status code")
        if not code.is_integer() or not 500 <= code <= 599:
            raise ConfigError(f"{where}: {raw_code!r} is not a 5xx status code")
        share = _number(raw_share, f"{where}[{raw_code}]")
        if share <= 0:
            raise ConfigError(f"{where}[{raw_code}]: share must be > 0, got {share:g}")
        pairs.append((int(code), share))
    total = sum(share for _, share in pairs)
    return tuple((code, share / total) for code, share in pairs)


def _latency(data: object, where: str) -> Latency:
    if not isinstance(data, Mapping):
        constant = parse_duration(data, where=where)
        return Latency(p50=constant, p99=constant)
    _reject_unknown(data, {"p50", "p99"}, where)
    if "p50" not in data and "p99" not in data:
        return Latency()
    # One quantile alone keeps the default spread (p99 = 5 * p50).
    if "p50" in data:
        p50 = parse_duration(data["p50"], where=f"{where}.p50")
        p99 = (
            parse_duration(data["p99"], where=f"{where}.p99")
            if "p99" in data
            else p50 * _DEFAULT_SPREAD
        )
    else:
        p99 = parse_duration(data["p99"], where=f"{where}.p99")
        p50 = p99 / _DEFAULT_SPREAD
    if p99 < p50:
        raise ConfigError(f"{where}.p99: must be >= p50 ({p50:g}s), got {p99:g}s")
    if p50 == 0 and p99 > 0:
        raise ConfigError(f"{where}.p50: must be > 0 when p99 is set, got 0")
    return Latency(p50=p50, p99=p99)


def _traffic(data: object, where: str) -> ServiceTraffic:
    if not isinstance(data, Mapping):
        return ServiceTraffic(rate=_rate(data, where))
    _reject_unknown(data, {"rate", "headers"}, where)
    raw_rules = data.get("headers", [])
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{where}.headers: expected a list, got {type(raw_rules).__name__}")
    rules = tuple(_header_rule(rule, f"{where}.headers[{i}]") for i, rule in enumerate(raw_rules))
    total = sum(rule.fraction for rule in rules)
    if total > 1.0 + 1e-9:
        raise ConfigError(f"{where}.headers: fractions add up to {total:g}, must be <= 1")
    return ServiceTraffic(rate=_rate(data.get("rate", 10.0), f"{where}.rate"), headers=rules)


def _rate(data: object, where: str) -> float:
    rate = _number(data, where, hint="requests per second")
    if rate < 0:
        raise ConfigError(f"{where}: must be >= 0 requests per second, got {rate:g}")
    return rate


def _header_rule(data: object, where: str) -> HeaderRule:
    entry = _mapping(data, where)
    _reject_unknown(entry, {"fraction", "set"}, where)
    fraction = _number(entry.get("fraction"), f"{where}.fraction")
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"{where}.fraction: must be between 0 and 1, got {fraction:g}")
    headers = _mapping(entry.get("set"), f"{where}.set", hint="a mapping of header: value")
    return HeaderRule(
        fraction=fraction,
        headers=tuple(
            (str(name).lower(), _header_value(value, f"{where}.set.{name}"))
            for name, value in headers.items()
        ),
    )


def _header_value(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(f"{where}: expected a string, got {type(value).__name__}")


def _number(value: object, where: str, *, hint: str = "a number") -> float:
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"{where}: expected {hint}, got {value!r}")
    if isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    raise ConfigError(f"{where}: expected {hint}, got {value!r}")


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _mapping(value: object, where: str, *, hint: str = "a mapping") -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected {hint}, got {type(value).__name__}")
    return value


def _keyed(value: object, where: str) -> dict[str, object]:
    entries = _mapping(value, where)
    for key in entries:
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: keys must be non-empty strings, got {key!r}")
    return {str(key): item for key, item in entries.items()}


def _reject_unknown(entry: Mapping[object, object], known: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in entry if key not in known)
    if unknown:
        expected = ", ".join(sorted(known))
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (expected one of: {expected})")
