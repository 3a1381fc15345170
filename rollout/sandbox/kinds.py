"""The resource kinds the sandbox serves: group, versions, names and scope.

One table drives discovery, URL routing and storage keys. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True, slots=True)
class Kind:
    """One served resource (e.g. deployments in apps/v1)."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...] = ()
    namespaced: bool = True
    subresources: tuple[str, ...] = ()
    builtin: bool = True  # strategic-merge patch allowed (custom resources get 415)
    categories: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """Storage key, independent of the served version: `plural.group`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def preferred_version(self) -> str:
        return self.versions[0]

    def api_version(self, version: str | None = None) -> str:
        v = version or self.preferred_version
        return f"{self.group}/{v}" if self.group else v


RBAC = "rbac.authorization.k8s.io"

# A table: one kind per row reads better than the formatter's layout.
# fmt: off
KINDS: tuple[Kind, ...] = (
    Kind("", ("v1",), "Namespace", "namespaces", "namespace", ("ns",), namespaced=False,
         subresources=("status",)),
    Kind("", ("v1",), "Pod", "pods", "pod", ("po",), subresources=("status",),
         categories=("all",)),
    Kind("", ("v1",), "Service", "services", "service", ("svc",), subresources=("status",),
         categories=("all",)),
    Kind("", ("v1",), "Endpoints", "endpoints", "endpoints", ("ep",)),
    Kind("", ("v1",), "Event", "events", "event", ("ev",)),
    Kind("", ("v1",), "ConfigMap", "configmaps", "configmap", ("cm",)),
    Kind("", ("v1",), "Secret", "secrets", "secret"),
    Kind("", ("v1",), "ServiceAccount", "serviceaccounts", "serviceaccount", ("sa",)),
    Kind("apps", ("v1",), "Deployment", "deployments", "deployment", ("deploy",),
         subresources=("status", "scale"), categories=("all",)),
    Kind("apps", ("v1",), "ReplicaSet", "replicasets", "replicaset", ("rs",),
         subresources=("status", "scale"), categories=("all",)),
    Kind("discovery.k8s.io", ("v1",), "EndpointSlice", "endpointslices", "endpointslice"),
    Kind("coordination.k8s.io", ("v1",), "Lease", "leases", "lease"),
    Kind("autoscaling", ("v2",), "HorizontalPodAutoscaler", "horizontalpodautoscalers",
         "horizontalpodautoscaler", ("hpa",), subresources=("status",), categories=("all",)),
    Kind(RBAC, ("v1",), "Role", "roles", "role"),
    Kind(RBAC, ("v1",), "RoleBinding", "rolebindings", "rolebinding"),
    Kind(RBAC, ("v1",), "ClusterRole", "clusterroles", "clusterrole", namespaced=False),
    Kind(RBAC, ("v1",), "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding",
         namespaced=False),
    # Istio's CRDs declare the status subresource (where istiod writes validationMessages).
    Kind("networking.istio.io", ("v1", "v1beta1"), "VirtualService", "virtualservices",
         "virtualservice", ("vs",), subresources=("status",), builtin=False,
         categories=("istio-io", "networking-istio-io")),
    Kind("networking.istio.io", ("v1", "v1beta1"), "DestinationRule", "destinationrules",
         "destinationrule", ("dr",), subresources=("status",), builtin=False,
         categories=("istio-io", "networking-istio-io")),
    # Istio 1.22+ serves v1 and v1alpha1 (older releases v1alpha1 only); v1 is preferred.
    Kind("telemetry.istio.io", ("v1", "v1alpha1"), "Telemetry", "telemetries", "telemetry",
         ("telemetry",), subresources=("status",), builtin=False,
         categories=("istio-io", "telemetry-istio-io")),
)
# fmt: on

BY_KEY: dict[str, Kind] = {k.key: k for k in KINDS}
BY_KIND: dict[str, Kind] = {k.kind: k for k in KINDS}

# Kinds whose spec changes bump metadata.generation (all custom resources do on any change).
GENERATION_KINDS = {"deployments.apps", "replicasets.apps", "horizontalpodautoscalers.autoscaling"}
# Kinds whose main-resource writes ignore .status and whose status writes touch only .status.
STATUS_KINDS = {k.key for k in KINDS if "status" in k.subresources}


def lookup(group: str, version: str, plural: str) -> Kind | None:
    """The Kind served at /apis/<group>/<version>/<plural>, or None."""
    kind = BY_KEY.get(f"{plural}.{group}" if group else plural)
    if kind is None or version not in kind.versions:
        return None
    return kind


def groups() -> dict[str, list[str]]:
    """API group name -> served versions (preferred first), core group excluded."""
    out: dict[str, list[str]] = {}
    for k in KINDS:
        if k.group:
            versions = out.setdefault(k.group, [])
            for v in k.versions:
                if v not in versions:
                    versions.append(v)
    return out
