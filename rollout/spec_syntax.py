"""The text grammar of rollout's inputs: image references, durations, percentages, names.

Pure functions over strings and numbers that return plain values or raise ValueError
with a short reason (no field name, no value). `spec` wraps them into SpecError for
flags; `spec_schema` uses them as pydantic validators. Imports nothing from rollout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

# docker/distribution reference grammar (reference/regexp.go).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_NAME_MAX = 255

_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL.pattern}(?:\.{_DNS_LABEL.pattern})*")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # RFC 9110 token
_CONTROL = frozenset(chr(c) for c in (*range(0x20), 0x7F)) - {"\t"}  # not in field values

_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_DURATION = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ms|h|m|s))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

DURATION_HINT = "not a duration; use e.g. 30s, 2m, 1h30m, 250ms or a number of seconds"
TAG_HINT = "letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'"


def is_bare_tag(text: str) -> bool:
    """True when `text` has no `/`, `:` or `@`: such a word is a tag, never a repository."""
    return not any(c in text for c in "/:@")


def check_tag(tag: str) -> str:
    """Return `tag` if it is a valid image tag."""
    if not tag:
        raise ValueError("empty tag")
    if not _TAG.fullmatch(tag):
        raise ValueError(f"invalid tag ({TAG_HINT})")
    return tag


def check_reference(ref: str) -> str:
    """Return `ref` if it is `[registry[:port]/]repo[:tag][@sha256:hex]`."""
    if not ref:
        raise ValueError("empty image reference")
    name, at, digest = ref.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise ValueError("invalid digest; expected sha256: and 64 lowercase hex digits")
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        check_tag(tag)
    if not name:
        raise ValueError("missing repository name")
    if len(name) > _NAME_MAX:
        raise ValueError(f"repository name longer than {_NAME_MAX} characters")
    components = name.split("/")
    first = components[0]
    if len(components) > 1 and (
        "." in first or ":" in first or first == "localhost" or first != first.lower()
    ):
        if not _DOMAIN.fullmatch(first):
            raise ValueError(f'invalid registry host "{first}"')
        components = components[1:]
    for part in components:
        _check_path_component(part)
    return ref


def _check_path_component(part: str) -> None:
    if not part:
        raise ValueError("empty repository path component")
    if _PATH_COMPONENT.fullmatch(part):
        return
    if _PATH_COMPONENT.fullmatch(part.lower()):
        raise ValueError("repository name must be lowercase")
    raise ValueError(
        f'invalid repository path component "{part}" '
        "(lowercase letters and digits, joined by '.', '_', '__' or '-')"
    )


def image_arg(text: str) -> tuple[str | None, str, bool]:
    """`--image` text -> (container or None, reference or tag, tag_only).

    `NAME=REF` names the container. A word without `/`, `:` or `@` is a tag (`v2`,
    `nginx`), as is `:TAG`; anything else is a full reference.
    """
    container: str | None = None
    if "=" in text:
        container, _, text = text.partition("=")
        try:
            check_dns_label(container)
        except ValueError:
            raise ValueError(
                f'container name "{container}" must be a DNS-1123 label '
                "(lowercase letters, digits, '-')"
            ) from None
    if not text:
        raise ValueError("empty image reference")
    if text.startswith(":") and is_bare_tag(text[1:]):
        return container, check_tag(text[1:]), True
    if is_bare_tag(text):
        return container, check_tag(text), True
    return container, check_reference(text), False


def image_without_tag(image: str) -> str:
    """`image` with any tag and digest removed (the registry port is kept)."""
    name = image.partition("@")[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def check_dns_label(name: str) -> str:
    """Return `name` if it is a DNS-1123 label (container, namespace, Service names)."""
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise ValueError("must be a DNS-1123 label (lowercase letters, digits, '-'; at most 63)")
    return name


def check_dns_subdomain(name: str) -> str:
    """Return `name` if it is a DNS-1123 subdomain (Deployment, VirtualService names)."""
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise ValueError(
            "must be a DNS-1123 name (lowercase letters, digits, '-', '.'; at most 253)"
        )
    return name


TARGET_NAME_MAX = 253 - len("rollout-")  # its Lease; -canary/-green/-blue are shorter


def check_target_name(name: str) -> str:
    """Return `name` if it can name the target Deployment: a DNS-1123 subdomain short
    enough for the names rollout derives from it (Lease `rollout-<name>`, `<name>-canary`)."""
    check_dns_subdomain(name)
    if len(name) > TARGET_NAME_MAX:
        raise ValueError(
            f"at most {TARGET_NAME_MAX} characters: rollout names its Lease rollout-<name> "
            "and the Deployments it creates <name>-canary/-green/-blue"
        )
    return name


def duration_seconds(value: object) -> float:
    """`30s`, `2m`, `1h30m`, `250ms`, `1.5s`, or a number (of seconds) -> seconds >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(DURATION_HINT)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return float(text)
        if not _DURATION.fullmatch(text):
            raise ValueError(DURATION_HINT)
        return sum(
            float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text)
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a duration >= 0")
    return float(value)


def pause_seconds(value: object) -> float | None:
    """`manual` -> None; otherwise a duration (`2m`, `0`) in seconds."""
    if isinstance(value, str) and value.strip().lower() == "manual":
        return None
    try:
        return duration_seconds(value)
    except ValueError:
        raise ValueError("must be manual or a duration like 30s, 2m") from None


def choice(value: object, names: Sequence[str]) -> str:
    """Return `value` if it is one of `names`."""
    if isinstance(value, str) and value in names:
        return value
    raise ValueError(f"must be one of {', '.join(names)}")


def percent(value: object) -> int:
    """`25`, `"25"` or `"25%"` -> 25 (a whole number; range not checked)."""
    if isinstance(value, bool):
        raise ValueError("must be a whole percentage")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
    raise ValueError("must be a whole percentage")


def percent_list(value: object) -> tuple[int, ...]:
    """`"10,25,50"` or `[10, "25%", 50]` -> (10, 25, 50): each in (0, 100], increasing."""
    if isinstance(value, str):
        items: Sequence[object] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ValueError("must be a list of percentages like 10,25,50")
    if not items or (isinstance(value, str) and not value.strip()):
        raise ValueError("must list at least one percentage")
    result: list[int] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            raise ValueError("empty entry; use e.g. 10,25,50")
        try:
            number = percent(item)
        except ValueError:
            raise ValueError(f"{item!s} is not a whole percentage") from None
        if not 0 < number <= 100:
            raise ValueError(f"{number} is outside (0, 100]")
        if result and number <= result[-1]:
            raise ValueError(f"must strictly increase ({result[-1]} then {number})")
        result.append(number)
    return tuple(result)


def int_or_percent(value: object) -> int | str:
    """maxSurge/maxUnavailable: `2` / `"2"` -> 2, `"25%"` -> "25%" (0..100%)."""
    if isinstance(value, bool):
        raise ValueError("must be a count like 1 or a percentage like 25%")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be >= 0")
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+", text):
            return int(text)
        if re.fullmatch(r"\d+%", text):
            if int(text[:-1]) > 100:
                raise ValueError("must be at most 100%")
            return f"{int(text[:-1])}%"
    raise ValueError("must be a count like 1 or a percentage like 25%")


def header_match(text: str) -> tuple[str, str]:
    """`x-canary=true` -> ("x-canary", "true"); the name is lowercased (HTTP/2, Istio)."""
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq or not name:
        raise ValueError("must be NAME=VALUE, e.g. x-canary=true")
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f'invalid header name "{name}"')
    if not value:
        raise ValueError("header value must not be empty")
    if any(c in _CONTROL for c in value):
        raise ValueError("header value must not contain control characters (newline, ...)")
    return name.lower(), value


_THRESHOLD = re.compile(r"(-?(?:\d+(?:\.\d*)?|\.\d+))\s*(%|ms|s)?")
_THRESHOLD_UNITS = {None: 1.0, "%": 1.0, "ms": 1.0, "s": 1000.0}


def threshold(value: object) -> float:
    """A check bound: a number, `"99%"` (-> 99), or a latency `"300ms"` / `"0.3s"` (-> 300).

    The units are those of the built-in checks (percent, milliseconds), as in `--check`.
    """
    if isinstance(value, bool):
        raise ValueError("must be a number, a percentage or a latency like 300ms")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return float(value)
    if isinstance(value, str):
        match = _THRESHOLD.fullmatch(value.strip())
        if match:
            return float(match[1]) * _THRESHOLD_UNITS[match[2]]
    raise ValueError("must be a number, a percentage or a latency like 300ms")


def http_url(text: str) -> str:
    """Return `text` if it is an absolute http(s) URL with a host."""
    match = re.fullmatch(r"(https?)://([^/?#\s]+)[^\s]*", text.strip())
    if not match:
        raise ValueError("must be an http:// or https:// URL with a host")
    return text.strip()


def check_bounds(low: float | None, high: float | None) -> None:
    """A check's pass range: at least one bound, and min <= max."""
    if low is None and high is None:
        raise ValueError("needs min or max (or both)")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min {low:g} is greater than max {high:g}")
