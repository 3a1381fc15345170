"""Defaulting and validation of objects on write, as kube-apiserver does on decode.

Only the fields whose defaults or rules change behaviour that rollout or kubectl
observe. Pure functions over JSON dicts; raises `errors.ApiError` (422) on invalid input.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from rollout.sandbox.kinds import Kind
from rollout.sandbox.store import errors, field_rules, rbac
from rollout.sandbox.store.copying import json_copy
from rollout.sandbox.store.selectors import SelectorError, label_selector_from_object

Obj = dict[str, Any]

# Kinds whose names must be DNS-1123 labels (not just subdomains).
LABEL_NAMED = {"namespaces", "services"}


def apply_defaults(kind: Kind, obj: Obj, *, in_place: bool = False) -> Obj:
    """Return `obj` with the server-side defaults of its kind filled in.

    Defaulting plus what admission adds on create, for the fields `kubectl describe`
    and `get -o yaml` show (probe timings, port protocols, service account,
    tolerations). Idempotent: it runs on every write. Malformed parts are left for
    `validate` to reject. Works on a copy unless `in_place` (for a caller's own copy).
    """
    obj = obj if in_place else json_copy(obj)
    if kind.key == "namespaces":
        obj.setdefault("status", {}).setdefault("phase", "Active")
        meta = obj.get("metadata", {})
        if meta.get("name"):
            labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
            meta["labels"] = {**labels, "kubernetes.io/metadata.name": meta["name"]}
        return obj
    rbac.apply_defaults(kind, obj)
    if kind.key not in _SPEC_KINDS:
        return obj
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return obj
    if kind.key in ("deployments.apps", "replicasets.apps"):
        spec.setdefault("replicas", 1)
        template = spec.setdefault("template", {})
        if isinstance(template, dict):
            template.setdefault("metadata", {})
            _default_pod_spec(template.setdefault("spec", {}))
    if kind.key == "deployments.apps":
        _default_deployment_spec(spec)
    elif kind.key == "pods":
        _default_pod_spec(spec)
        _admit_pod(spec)
        obj.setdefault("status", {}).setdefault("phase", "Pending")
    elif kind.key == "services":
        _default_service_spec(spec)
    return obj


_SPEC_KINDS = {"deployments.apps", "replicasets.apps", "pods", "services"}
# Pods get these from admission (DefaultTolerationSeconds) when they tolerate neither.
_DEFAULT_TOLERATIONS = [
    {
        "key": f"node.kubernetes.io/{taint}",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    for taint in ("not-ready", "unreachable")
]
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _default_deployment_spec(spec: Obj) -> None:
    strategy = spec.setdefault("strategy", {})
    if not isinstance(strategy, dict):
        return
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        if isinstance(ru, dict):
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _default_service_spec(spec: Obj) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in _dicts(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _default_pod_spec(spec: object) -> None:
    """SetDefaults_PodSpec / _Container / _Probe / _ContainerPort (templates and pods)."""
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in _dicts(container.get("ports")):
            port.setdefault("protocol", "TCP")
        for probe in (container.get(name) for name in _PROBES):
            if isinstance(probe, dict):
                _default_probe(probe)


def _default_probe(probe: Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _admit_pod(spec: Obj) -> None:
    """What admission adds to a pod (not a template): SetDefaults_Pod, ServiceAccount,
    Priority and DefaultTolerationSeconds."""
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    if isinstance(tolerations, list):
        keys = {t.get("key") for t in _dicts(tolerations)}
        tolerations += [t for t in _DEFAULT_TOLERATIONS if t["key"] not in keys]
    for container in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        resources = container.get("resources")
        if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
            requests = resources.setdefault("requests", {})  # requests default to limits
            if isinstance(requests, dict):
                for name, value in resources["limits"].items():
                    requests.setdefault(name, value)


def _dicts(value: Any) -> list[Obj]:
    """The dict items of a list (anything else: none), for defaulting unvalidated input."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def validate(kind: Kind, obj: Obj, old: Obj | None = None) -> None:
    """Raise a 422 `ApiError` naming every invalid field of `obj` (and immutable changes)."""
    name = obj.get("metadata", {}).get("name") or ""
    causes: list[tuple[str, str]] = []
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif kind.key in rbac.KEYS:
        causes += [
            ("metadata.name", f'Invalid value: "{name}": {m}') for m in rbac.name_errors(name)
        ]
    elif kind.plural != "events":
        pattern = field_rules.DNS_LABEL if kind.plural in LABEL_NAMED else field_rules.DNS_SUBDOMAIN
        if len(name) > 253 or not pattern.match(name):
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 '
                    "name must consist of lower case alphanumeric characters, '-' or '.'",
                )
            )
    meta = obj.get("metadata", {})
    causes += field_rules.label_causes("metadata.labels", meta.get("labels"))
    causes += field_rules.annotation_causes("metadata.annotations", meta.get("annotations"))
    if kind.key in ("deployments.apps", "replicasets.apps"):
        causes += _workload_causes(kind, obj, old)
    if kind.key == "pods":
        causes += _containers_causes("spec", obj.get("spec", {}))
    if kind.key == "services":
        causes += field_rules.label_causes("spec.selector", obj.get("spec", {}).get("selector"))
    causes += rbac.causes(kind, obj, old)
    if causes:
        raise errors.invalid(kind.kind, kind.group, name, causes)


def _workload_causes(kind: Kind, obj: Obj, old: Obj | None) -> list[tuple[str, str]]:
    spec = obj.get("spec", {})
    causes: list[tuple[str, str]] = []
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
        causes.append(("spec.replicas", "Invalid value: must be greater than or equal to 0"))
    selector = spec.get("selector")
    labels = spec.get("template", {}).get("metadata", {}).get("labels") or {}
    selector_causes = field_rules.selector_causes("spec.selector", selector)
    if not selector:
        causes.append(("spec.selector", "Required value"))
    elif selector_causes:
        causes += selector_causes
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
    causes += field_rules.label_causes("spec.template.metadata.labels", labels)
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
    if kind == "RollingUpdate" and isinstance(ru, dict):
        return field_rules.rolling_update_causes("spec.strategy.rollingUpdate", ru)
    return []


def _go_map(m: Any) -> str:
    return "{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted((m or {}).items())) + "}"


def allocate_cluster_ip(index: int) -> str:
    """The n-th address of the sandbox's service range 10.96.0.0/12."""
    return str(ipaddress.IPv4Address("10.96.0.10") + index)
