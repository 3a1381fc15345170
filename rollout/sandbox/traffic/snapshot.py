"""What the traffic model sees of the cluster at one instant: pods, Services, Istio routing.

Frozen values built by the caller from the object store; the Istio specs keep the
API's raw shape (typed below). Pure data: no I/O and no store access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict


class StringMatch(TypedDict, total=False):
    """Istio StringMatch: exactly one of exact / prefix / regex (RE2, full match)."""

    exact: str
    prefix: str
    regex: str


class HTTPMatchRequest(TypedDict, total=False):
    """One `match` entry of an HTTP route; all its conditions must hold."""

    name: str
    headers: dict[str, StringMatch]
    withoutHeaders: dict[str, StringMatch]
    uri: StringMatch
    method: StringMatch


class Destination(TypedDict, total=False):
    """A route target: a Service host and an optional DestinationRule subset."""

    host: str
    subset: str


class HTTPRouteDestination(TypedDict, total=False):
    """A weighted destination of an HTTP route."""

    destination: Destination
    weight: int


class Percent(TypedDict):
    """Istio Percent (0..100, fractional allowed)."""

    value: float


class HTTPRoute(TypedDict, total=False):
    """One entry of `spec.http`: match conditions, weighted route, optional mirror."""

    name: str
    match: list[HTTPMatchRequest]
    route: list[HTTPRouteDestination]
    mirror: Destination
    mirrorPercentage: Percent
    mirror_percent: int


class VirtualServiceSpec(TypedDict, total=False):
    """The parts of a VirtualService spec the traffic model honours."""

    hosts: list[str]
    gateways: list[str]
    http: list[HTTPRoute]


@dataclass(frozen=True, slots=True)
class PodSnapshot:
    """A pod as the traffic model needs it; `labels` is treated as read-only."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    image: str  # image of the first container
    ready: bool
    workload: str  # owning Deployment name ("" when none)
    istio: bool  # namespace labelled istio-injection=enabled


@dataclass(frozen=True, slots=True)
class ServiceSnapshot:
    """A Service and the names of its ready endpoint pods (same namespace)."""

    namespace: str
    name: str
    endpoints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VirtualServiceSnapshot:
    """An Istio VirtualService: its raw spec (hosts, http routes, mirror)."""

    namespace: str
    name: str
    spec: VirtualServiceSpec


@dataclass(frozen=True, slots=True)
class SubsetSnapshot:
    """A DestinationRule subset: a name and the pod labels it selects."""

    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class DestinationRuleSnapshot:
    """An Istio DestinationRule: the host it applies to and its subsets."""

    namespace: str
    name: str
    host: str
    subsets: tuple[SubsetSnapshot, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """Everything one traffic tick reads."""

    pods: tuple[PodSnapshot, ...] = ()
    services: tuple[ServiceSnapshot, ...] = ()
    virtual_services: tuple[VirtualServiceSnapshot, ...] = ()
    destination_rules: tuple[DestinationRuleSnapshot, ...] = ()
