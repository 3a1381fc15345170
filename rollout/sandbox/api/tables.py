"""Server-side printing: `meta.k8s.io` Tables with the columns kube-apiserver prints.

`kubectl get` asks for `as=Table`; the columns follow upstream's printers
(pkg/printers/internalversion) for the built-in kinds, Istio's CRD printer columns for
VirtualService/DestinationRule, and NAME/AGE for the rest. Rows are always generated
"wide"; kubectl hides priority-1 columns unless `-o wide`. Cell formatting lives in
`cells`. Pure functions over JSON dicts.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from rollout.sandbox.api import cells
from rollout.sandbox.kinds import Kind

Obj = dict[str, Any]
Column = dict[str, Any]
Now = datetime.datetime
INCLUDE_OBJECT = ("", "None", "Metadata", "Object")


def column(
    name: str, type_: str = "string", *, priority: int = 0, description: str = "", format_: str = ""
) -> Column:
    """One `TableColumnDefinition`."""
    return {
        "name": name,
        "type": type_,
        "format": format_,
        "description": description,
        "priority": priority,
    }


def _wide(name: str, description: str) -> Column:
    return column(name, priority=1, description=description)


NAME = column("Name", format_="name", description="Name must be unique within a namespace.")
AGE = column(
    "Age",
    description="CreationTimestamp is a timestamp representing the server "
    "time when this object was created.",
)
WORKLOAD_WIDE = [
    _wide("Containers", "Names of each container in the template."),
    _wide("Images", "Images referenced by each container in the template."),
    _wide("Selector", "Label selector for pods."),
]
DEPLOYMENT = [
    column("Ready", description="Number of the pod with ready state"),
    column(
        "Up-to-date",
        description="Total number of non-terminated pods targeted by this "
        "deployment that have the desired template spec.",
    ),
    column("Available", description="Total number of available pods targeted by this deployment."),
    AGE,
    *WORKLOAD_WIDE,
]
REPLICA_SET = [
    column("Desired", "integer", description="Number of desired pods."),
    column("Current", "integer", description="Number of actual pods."),
    column("Ready", "integer", description="Number of ready pods."),
    AGE,
    *WORKLOAD_WIDE,
]
POD = [
    column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    column("Status", description="The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        description="The number of times the containers in this pod have "
        "been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    _wide("IP", "IP address allocated to the pod."),
    _wide("Node", "The node the pod is scheduled on."),
    _wide("Nominated Node", "The node the pod may be preempted to."),
    _wide("Readiness Gates", "Pod readiness gates."),
]
SERVICE = [
    column("Type", description="How the Service is exposed."),
    column("Cluster-IP", description="The IP address of the service."),
    column("External-IP", description="IP addresses outside the cluster for this service."),
    column("Port(s)", description="The ports exposed by this service."),
    AGE,
    _wide(
        "Selector",
        "Route service traffic to pods with label keys and values matching this selector.",
    ),
]
EVENT = [
    column("Last Seen", description="The time at which the most recent occurrence was recorded."),
    column("Type", description="Type of this event (Normal, Warning)."),
    column("Reason", description="Why the action was taken."),
    column("Object", description="The object that this event is about."),
    _wide("Subobject", "The field of the object this event is about."),
    _wide("Source", "The component reporting this event."),
    column("Message", description="A human-readable description of the status."),
    _wide("First Seen", "The time at which the event was first recorded."),
    _wide("Count", "The number of times this event has occurred."),
    _wide("Name", "The name of the event."),
]


def _deployment(obj: Obj, now: Now) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status") or {}
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
    return [
        ready,
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        cells.age(obj, now),
        *cells.workload_wide(obj),
    ]


def _replica_set(obj: Obj, now: Now) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status") or {}
    return [
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        cells.age(obj, now),
        *cells.workload_wide(obj),
    ]


def _pod(obj: Obj, now: Now) -> list[Any]:
    ready, status, restarts, *wide = cells.pod(obj, now)
    return [ready, status, restarts, cells.age(obj, now), *wide]


def _service(obj: Obj, now: Now) -> list[Any]:
    kind, cluster_ip, external_ip, ports, selector = cells.service(obj)
    return [kind, cluster_ip, external_ip, ports, cells.age(obj, now), selector]


def _spec_text(key: str) -> Callable[[Obj], Any]:
    """A CRD printer column `.spec.<key>` of type string."""
    return lambda obj: cells.json_path_text((obj.get("spec") or {}).get(key))


Printer = tuple[list[Column], Callable[[Obj, Now], list[Any]], bool]


def _aged(columns: list[Column], *values: Callable[[Obj], Any]) -> Printer:
    """A printer whose columns are `values` then AGE."""
    return [*columns, AGE], lambda o, now: [*(v(o) for v in values), cells.age(o, now)], True


# kind key -> (columns after NAME, cells after the name, whether NAME leads the row)
PRINTERS: dict[str, Printer] = {
    "deployments.apps": (DEPLOYMENT, _deployment, True),
    "replicasets.apps": (REPLICA_SET, _replica_set, True),
    "pods": (POD, _pod, True),
    "services": (SERVICE, _service, True),
    "endpoints": _aged(
        [column("Endpoints", description="Endpoints of the service.")], cells.endpoints_text
    ),
    "events": (EVENT, cells.event, False),
    "namespaces": _aged(
        [column("Status", description="The status of the namespace")],
        lambda o: (o.get("status") or {}).get("phase", ""),
    ),
    "configmaps": _aged(
        [column("Data", description="Number of data items")],
        lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
    ),
    "secrets": _aged(
        [
            column("Type", description="The type of the secret"),
            column("Data", description="Number of data items"),
        ],
        lambda o: o.get("type", "Opaque"),
        lambda o: len(o.get("data") or {}),
    ),
    "leases.coordination.k8s.io": _aged(
        [column("Holder", description="The holder of the lease")],
        lambda o: (o.get("spec") or {}).get("holderIdentity") or "",
    ),
    "virtualservices.networking.istio.io": _aged(
        [
            column(
                "Gateways",
                description="The names of gateways and sidecars that should apply these routes",
            ),
            column("Hosts", description="The destination hosts to which traffic is being sent"),
        ],
        _spec_text("gateways"),
        _spec_text("hosts"),
    ),
    "destinationrules.networking.istio.io": _aged(
        [column("Host", description="The name of a service from the service registry")],
        _spec_text("host"),
    ),
}
DEFAULT: Printer = _aged([])


def columns(kind: Kind) -> list[Column]:
    """The column definitions of `kind`'s table."""
    extra, _, named = PRINTERS.get(kind.key, DEFAULT)
    return [NAME, *extra] if named else list(extra)


def row(kind: Kind, obj: Obj, now: Now) -> list[Any]:
    """One row's cells for `obj`."""
    _, make, named = PRINTERS.get(kind.key, DEFAULT)
    return [obj.get("metadata", {}).get("name", ""), *make(obj, now)] if named else make(obj, now)


def partial(obj: Obj, version: str = "v1") -> Obj:
    """The `PartialObjectMetadata` of an object (its metadata only)."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": obj.get("metadata", {}),
    }


def partial_list(objects: list[Obj], *, resource_version: str, version: str = "v1") -> Obj:
    """A `PartialObjectMetadataList` of `objects`."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": {"resourceVersion": resource_version},
        "items": [partial(o, version) for o in objects],
    }


def table(
    kind: Kind,
    objects: list[Obj],
    *,
    resource_version: str,
    include: str = "",
    version: str = "v1",
    headers: bool = True,
    now: Now | None = None,
) -> Obj:
    """A `meta.k8s.io` Table of `objects`. Rows carry their object per `include`:
    PartialObjectMetadata by default (`Metadata`), the object (`Object`) or null (`None`);
    `headers=False` leaves the column definitions out (watch events after the first)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for obj in objects:
        carried = (
            obj if include == "Object" else None if include == "None" else partial(obj, version)
        )
        rows.append({"cells": row(kind, obj, now), "object": carried})
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns(kind) if headers else None,
        "rows": rows,
    }
