"""URL routing: turn a Kubernetes REST path into the resource it names.

Pure parsing; no store access. Unknown paths give None (the server answers 404).
"""

from __future__ import annotations

from dataclasses import dataclass

from rollout.sandbox import kinds


@dataclass(frozen=True, slots=True)
class Route:
    """A resource path: kind at a served version, optional namespace/name/subresource."""

    kind: kinds.Kind
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def resource(self) -> str:
        """Plural, with /subresource when there is one (request-log form)."""
        return f"{self.kind.plural}/{self.subresource}" if self.subresource else self.kind.plural


class UnknownResource(Exception):
    """The path names a group/version or resource the sandbox does not serve."""


def parse(path: str) -> Route | None:
    """Parse `/api/v1/...` or `/apis/<group>/<version>/...`; None for non-resource paths."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and not _is_namespace_subresource(rest):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise UnknownResource(path)
    kind = kinds.lookup(group, version, rest[0])
    if kind is None:
        raise UnknownResource(path)
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in kind.subresources:
        raise UnknownResource(path)
    if not kind.namespaced and namespace is not None:
        raise UnknownResource(path)
    return Route(kind, version, namespace, name, sub)


def _is_namespace_subresource(rest: list[str]) -> bool:
    """`namespaces/<name>/status` (a subresource) rather than `namespaces/<ns>/<plural>`."""
    return len(rest) == 3 and rest[2] in ("status", "finalize")
