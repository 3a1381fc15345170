"""The vocabulary of kube.py: resources, patch types, raw API objects, Event bodies.

A "kube" module (see kube.py); no I/O, and nothing of the kubernetes client.
Re-exported by rollout.kube: use `kube.Resource`, `kube.PatchType`, `kube.Object`.
"""

from __future__ import annotations

import datetime
import enum
import socket
import time
import urllib.parse
from typing import Any, TypedDict

from rollout.spec import ObjectRef

Object = dict[str, Any]
"""An API object as raw JSON (`apiVersion`, `kind`, `metadata`, `spec`, `status`).

Read its parts through the TypedDicts below (`ObjectMeta`, ...); list items get
`apiVersion`/`kind` filled in (the API leaves them out), so every Object names its kind.
"""


class ObjectMeta(TypedDict, total=False):
    """The `metadata` fields rollout reads."""

    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[dict[str, Any]]
    creationTimestamp: str
    deletionTimestamp: str


def meta(obj: Object) -> ObjectMeta:
    """`obj.metadata` (empty when missing)."""
    result: ObjectMeta = obj.get("metadata") or {}
    return result


class Resource(enum.Enum):
    """A served resource: group, version, plural, namespaced, and its kind."""

    DEPLOYMENT = ("apps", "v1", "deployments", True, "Deployment")
    REPLICASET = ("apps", "v1", "replicasets", True, "ReplicaSet")
    POD = ("", "v1", "pods", True, "Pod")
    SERVICE = ("", "v1", "services", True, "Service")
    ENDPOINTS = ("", "v1", "endpoints", True, "Endpoints")
    EVENT = ("", "v1", "events", True, "Event")
    LEASE = ("coordination.k8s.io", "v1", "leases", True, "Lease")
    NAMESPACE = ("", "v1", "namespaces", False, "Namespace")
    VIRTUAL_SERVICE = ("networking.istio.io", "v1beta1", "virtualservices", True, "VirtualService")
    DESTINATION_RULE = (
        "networking.istio.io",
        "v1beta1",
        "destinationrules",
        True,
        "DestinationRule",
    )

    def __init__(self, group: str, version: str, plural: str, namespaced: bool, kind: str) -> None:
        self.group = group
        self.version = version
        self.plural = plural
        self.namespaced = namespaced
        self.kind = kind

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """REST path of the collection (all namespaces when `namespace` is empty) or object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{urllib.parse.quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return f"{base}/{urllib.parse.quote(name, safe='')}" if name else base

    def subject(self, ref: ObjectRef) -> str:
        """`Deployment shop/web` (`Namespace shop` for cluster-scoped kinds), for messages."""
        return f"{self.kind} {ref}" if self.namespaced else f"{self.kind} {ref.name}"


class PatchType(enum.Enum):
    """Patch flavours; values are their content types."""

    STRATEGIC = "application/strategic-merge-patch+json"  # built-in kinds only
    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"  # body is a list of operations


def is_equivalent(sent: Any, stored: Any) -> bool:
    """True when `stored` holds everything of `sent` (extra server-side fields allowed).

    Used to recognise our own create after a lost response; identity metadata
    (resourceVersion, uid, timestamps, ...) is ignored, labels/annotations compared.
    """
    if isinstance(sent, dict) and isinstance(stored, dict):
        return all(
            key in stored and is_equivalent(value, stored[key])
            for key, value in sent.items()
            if key not in _IDENTITY
        )
    if isinstance(sent, list) and isinstance(stored, list):
        return len(sent) == len(stored) and all(map(is_equivalent, sent, stored))
    return bool(sent == stored)


_IDENTITY = frozenset(
    {
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "managedFields",
        "selfLink",
        "generateName",
        "status",
    }
)


def event_for(involved: Object, *, reason: str, message: str, warning: bool) -> Object:
    """A core/v1 Event about `involved`, as `kubectl describe` shows it (client-go naming)."""
    m = meta(involved)
    namespace = m.get("namespace") or "default"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{m.get('name', 'unknown')}.{time.time_ns():x}",
            "namespace": namespace,
        },
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", ""),
            "kind": involved.get("kind", ""),
            "name": m.get("name", ""),
            "namespace": namespace,
            "uid": m.get("uid", ""),
            "resourceVersion": m.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "source": {"component": "rollout"},
        "reportingComponent": "rollout",
        "reportingInstance": socket.gethostname(),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
