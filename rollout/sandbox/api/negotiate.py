"""Content negotiation: which representation an `Accept` header asks for, and which body
formats a `Content-Type` names, with the 406/415 answers kube-apiserver gives.

Pure parsing of header text; no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rollout.sandbox.store import errors

META_GROUP = "meta.k8s.io"
META_VERSIONS = ("v1", "v1beta1")
SERIALIZERS = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
# Server-side apply (application/apply-patch+yaml) is not modelled: it gets 415 and the
# message lists what is accepted, so a client sees why.
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
}


class As(enum.Enum):
    """The shape of a response body."""

    OBJECT = "object"  # the resource (or list) itself
    TABLE = "Table"
    PARTIAL = "PartialObjectMetadata"
    PARTIAL_LIST = "PartialObjectMetadataList"


@dataclass(frozen=True, slots=True)
class Target:
    """What to answer with: a shape, its meta.k8s.io version, and JSON or YAML text."""

    shape: As = As.OBJECT
    version: str = "v1"
    yaml: bool = False


def _clauses(header: str) -> list[tuple[str, dict[str, str], float]]:
    """`type/subtype;k=v` clauses with their parameters, best quality first (stable)."""
    parsed = []
    for clause in header.split(","):
        media, *params = (p.strip() for p in clause.split(";"))
        if not media:
            continue
        values = {}
        for param in params:
            key, _, value = param.partition("=")
            values[key.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(values.pop("q", "1"))
        except ValueError:
            quality = 1.0
        parsed.append((media.lower(), values, quality))
    return sorted((c for c in parsed if c[2] > 0), key=lambda c: -c[2])


def accept(header: str | None, *, is_list: bool) -> Target:
    """The first acceptable clause of an Accept header; 406 NotAcceptable when none is."""
    if not header or not header.strip():
        return Target()
    for media, params, _ in _clauses(header):
        if media in ("application/json", "application/*", "*/*"):
            yaml = False
        elif media == "application/yaml":
            yaml = True
        else:
            continue
        target = _conversion(params, is_list=is_list)
        if target is not None:
            return Target(target.shape, target.version, yaml)
    raise errors.ApiError(
        406,
        "NotAcceptable",
        f"only the following media types are accepted: {', '.join(SERIALIZERS)}",
    )


def _conversion(params: dict[str, str], *, is_list: bool) -> Target | None:
    """The `as=...;g=...;v=...` conversion a clause asks for, None when not servable."""
    shape = params.get("as")
    if shape is None:
        return Target()
    if params.get("g") != META_GROUP or params.get("v") not in META_VERSIONS:
        return None
    version = params["v"]
    if shape == As.TABLE.value:
        return Target(As.TABLE, version)
    if shape == As.PARTIAL.value and not is_list:
        return Target(As.PARTIAL, version)
    if shape == As.PARTIAL_LIST.value and is_list:
        return Target(As.PARTIAL_LIST, version)
    return None


def body_format(content_type: str | None) -> str:
    """`json`, `yaml` or `protobuf` for a request body; 415 for anything else (empty
    means JSON)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("", "application/json"):
        return "json"
    if media == "application/yaml":
        return "yaml"
    if media == "application/vnd.kubernetes.protobuf":
        return "protobuf"
    raise unsupported(list(SERIALIZERS))


def patch_type(content_type: str | None, *, builtin: bool) -> str:
    """The patch style a PATCH's Content-Type names; 415 for others (and for strategic
    merge on custom resources), listing what the resource accepts, as upstream does."""
    accepted = [t for t, style in PATCH_TYPES.items() if builtin or style != "strategic"]
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in accepted:
        raise unsupported(accepted)
    return PATCH_TYPES[media]


def unsupported(accepted: list[str]) -> errors.ApiError:
    """415 UnsupportedMediaType with upstream's message."""
    return errors.ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )
