"""Defaulting and validation of objects on write, as kube-apiserver does on decode.

Only the fields whose defaults or rules change behaviour that rollout or kubectl
observe. Pure functions over JSON dicts; raises `errors.ApiError` (422) on invalid input.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

from rollout.sandbox.kinds import Kind
from rollout.sandbox.store import errors
from rollout.sandbox.store.selectors import SelectorError, label_selector_from_object

Obj = dict[str, Any]

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kinds whose names must be DNS-1123 labels (not just subdomains).
LABEL_NAMED = {"namespaces", "services"}


def apply_defaults(kind: Kind, obj: Obj) -> Obj:
    """Return `obj` with the server-side defaults of its kind filled in."""
    obj = copy.deepcopy(obj)
    spec = obj.setdefault("spec", {}) if kind.key in _SPEC_KINDS else None
    if kind.key in ("deployments.apps", "replicasets.apps"):
        assert spec is not None
        spec.setdefault("replicas", 1)
        _default_pod_template(spec.setdefault("template", {}))
    if kind.key == "deployments.apps":
        assert spec is not None
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
    elif kind.key == "pods":
        assert spec is not None
        _default_pod_spec(spec)
        obj.setdefault("status", {}).setdefault("phase", "Pending")
    elif kind.key == "services":
        assert spec is not None
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    elif kind.key == "namespaces":
        obj.setdefault("status", {}).setdefault("phase", "Active")
        name = obj.get("metadata", {}).get("name")
        if name:
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    return obj


_SPEC_KINDS = {"deployments.apps", "replicasets.apps", "pods", "services"}


def _default_pod_template(template: Obj) -> None:
    template.setdefault("metadata", {})
    _default_pod_spec(template.setdefault("spec", {}))


def _default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        latest = ":" not in tag or tag.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def validate(kind: Kind, obj: Obj, old: Obj | None = None) -> None:
    """Raise a 422 `ApiError` naming every invalid field of `obj` (and immutable changes)."""
    name = obj.get("metadata", {}).get("name") or ""
    causes: list[tuple[str, str]] = []
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif kind.plural != "events":
        pattern = DNS_LABEL if kind.plural in LABEL_NAMED else DNS_SUBDOMAIN
        if len(name) > 253 or not pattern.match(name):
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 '
                    "name must consist of lower case alphanumeric characters, '-' or '.'",
                )
            )
    if kind.key in ("deployments.apps", "replicasets.apps"):
        causes += _workload_causes(kind, obj, old)
    if kind.key == "pods":
        causes += _containers_causes("spec", obj.get("spec", {}))
    if causes:
        raise errors.invalid(kind.kind, kind.group, name, causes)


def _workload_causes(kind: Kind, obj: Obj, old: Obj | None) -> list[tuple[str, str]]:
    spec = obj.get("spec", {})
    causes: list[tuple[str, str]] = []
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
        causes.append(("spec.replicas", "Invalid value: must be greater than or equal to 0"))
    selector = spec.get("selector")
    labels = spec.get("template", {}).get("metadata", {}).get("labels") or {}
    if not selector:
        causes.append(("spec.selector", "Required value"))
    else:
        try:
            if not label_selector_from_object(selector).matches(labels):
                causes.append(
                    (
                        "spec.template.metadata.labels",
                        f"Invalid value: map[string]string{_go_map(labels)}: "
                        "`selector` does not match template `labels`",
                    )
                )
        except SelectorError as e:
            causes.append(("spec.selector", f"Invalid value: {e}"))
        if old is not None and old.get("spec", {}).get("selector") != selector:
            causes.append(
                ("spec.selector", f"Invalid value: {_go_map(selector)}: field is immutable")
            )
    causes += _containers_causes("spec.template.spec", spec.get("template", {}).get("spec", {}))
    if kind.key == "deployments.apps":
        causes += _strategy_causes(spec.get("strategy") or {})
    return causes


def _containers_causes(path: str, pod_spec: Obj) -> list[tuple[str, str]]:
    containers = pod_spec.get("containers") or []
    if not containers:
        return [(f"{path}.containers", "Required value")]
    causes = []
    for i, c in enumerate(containers):
        if not c.get("name"):
            causes.append((f"{path}.containers[{i}].name", "Required value"))
        if not c.get("image"):
            causes.append((f"{path}.containers[{i}].image", "Required value"))
    return causes


def _strategy_causes(strategy: Obj) -> list[tuple[str, str]]:
    kind = strategy.get("type")
    if kind not in ("RollingUpdate", "Recreate"):
        return [
            (
                "spec.strategy.type",
                f'Unsupported value: "{kind}": supported values: "Recreate", "RollingUpdate"',
            )
        ]
    ru = strategy.get("rollingUpdate")
    if kind == "Recreate" and ru is not None:
        return [
            (
                "spec.strategy.rollingUpdate",
                "Forbidden: may not be specified when strategy `type` is 'Recreate'",
            )
        ]
    if kind == "RollingUpdate" and ru:
        surge, unavailable = ru.get("maxSurge", 0), ru.get("maxUnavailable", 0)
        if _is_zero(surge) and _is_zero(unavailable):
            return [
                (
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    "Invalid value: may not be 0 when `maxSurge` is 0",
                )
            ]
    return []


def _is_zero(value: Any) -> bool:
    return value in (0, "0", "0%")


def _go_map(m: Any) -> str:
    return "{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted((m or {}).items())) + "}"


def allocate_cluster_ip(index: int) -> str:
    """The n-th address of the sandbox's service range 10.96.0.0/12."""
    return str(ipaddress.IPv4Address("10.96.0.10") + index)
