"""Traffic model: turns per-Service request rates into per-pod request outcomes.

Each tick routes rate*dt requests per Service like kube-proxy (uniform over ready
endpoints) or, when a VirtualService claims the Service, like Istio (header match,
weights, subsets, mirror), then samples status and latency from the serving pod's
image behaviour. Pure: no HTTP, threads, store access or clock; callers pass snapshots.
"""

from __future__ import annotations

import bisect
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rollout.sandbox import config as sandbox_config
from rollout.sandbox.traffic import snapshot as snap

# Istio's default latency buckets (ms). They contain every Prometheus default bucket
# (5ms ... 10s), so counters kept at this resolution serve both exposition formats.
BUCKET_BOUNDS_MS: tuple[float, ...] = (
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
    30000.0, 60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
)  # fmt: skip
_CLUSTER_SUFFIXES = ("", "svc", "svc.cluster.local")
_REQUEST_URI = "/"
_REQUEST_METHOD = "GET"

Delivery = tuple[snap.ServiceSnapshot, snap.PodSnapshot]


@dataclass(frozen=True, slots=True)
class SeriesStats:
    """Counters of one (Service, pod) pair, as exposition renders them."""

    namespace: str
    service: str
    pod: str
    workload: str
    istio: bool
    codes: tuple[tuple[int, int], ...]  # (status code, requests), sorted by code
    buckets: tuple[int, ...]  # per BUCKET_BOUNDS_MS bound (non-cumulative), then overflow
    sum_seconds: float

    @property
    def count(self) -> int:
        """Requests observed."""
        return sum(self.buckets)


@dataclass(slots=True)
class _Counters:
    codes: dict[int, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKET_BOUNDS_MS) + 1))
    sum_seconds: float = 0.0

    def observe(self, code: int, seconds: float) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1
        self.buckets[bisect.bisect_left(BUCKET_BOUNDS_MS, seconds * 1000.0)] += 1
        self.sum_seconds += seconds


class TrafficModel:
    """Generates requests per Service each tick and accumulates per-pod counters."""

    def __init__(self, config: sandbox_config.SandboxConfig, *, seed: int | None = 0) -> None:
        self._config = config
        self._rng = random.Random(seed)
        self._carry: dict[tuple[str, str], float] = {}
        self._counters: dict[tuple[str, str, str], _Counters] = {}
        self._totals: dict[str, int] = {}
        self._live: dict[tuple[str, str], snap.PodSnapshot] = {}
        self._behaviours: dict[str, sandbox_config.ImageBehaviour] = {}

    def tick(self, snapshot: snap.ClusterSnapshot, dt_seconds: float) -> None:
        """Send and record `rate * dt_seconds` requests per Service (fractions carry over)."""
        if not math.isfinite(dt_seconds) or dt_seconds < 0:
            raise ValueError(f"dt_seconds must be a finite number >= 0, got {dt_seconds!r}")
        self._live = {(pod.namespace, pod.name): pod for pod in snapshot.pods}
        self._forget_gone(snapshot)
        router = _Router(snapshot)
        for service in snapshot.services:
            traffic = self._config.traffic_for(service.namespace, service.name)
            due = self._due((service.namespace, service.name), traffic.rate * dt_seconds)
            if due == 0:
                continue
            self._send(router, service, traffic, due)

    def send(
        self, snapshot: snap.ClusterSnapshot, namespace: str, service: str, count: int
    ) -> None:
        """Send exactly `count` requests to one Service now (its header mix applies)."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        self._live = {(pod.namespace, pod.name): pod for pod in snapshot.pods}
        self._forget_gone(snapshot)
        router = _Router(snapshot)
        target = router.resolve(service, namespace)
        if target is None:
            raise LookupError(f"Service {namespace}/{service} is not in the snapshot")
        self._send(router, target, self._config.traffic_for(namespace, service), count)

    def _send(
        self,
        router: _Router,
        service: snap.ServiceSnapshot,
        traffic: sandbox_config.ServiceTraffic,
        count: int,
    ) -> None:
        spec = router.virtual_service_for(service)
        for _ in range(count):
            headers = traffic.pick_headers(self._rng)
            for target, pod in router.route(service, spec, headers, self._rng):
                self._serve(target, pod)

    def requests_by_pod(self) -> dict[str, int]:
        """Requests each pod received since start (mirrors included), keyed `ns/name`."""
        return dict(self._totals)

    def series(self) -> tuple[SeriesStats, ...]:
        """Counters of pods that still exist, sorted by namespace, Service and pod."""
        out = []
        for (namespace, service, name), counters in sorted(self._counters.items()):
            pod = self._live[(namespace, name)]
            out.append(
                SeriesStats(
                    namespace=namespace,
                    service=service,
                    pod=name,
                    workload=pod.workload,
                    istio=pod.istio,
                    codes=tuple(sorted(counters.codes.items())),
                    buckets=tuple(counters.buckets),
                    sum_seconds=counters.sum_seconds,
                )
            )
        return tuple(out)

    def _due(self, key: tuple[str, str], expected: float) -> int:
        pending = self._carry.get(key, 0.0) + expected
        due = int(pending + 1e-9)
        self._carry[key] = pending - due
        return due

    def _serve(self, service: snap.ServiceSnapshot, pod: snap.PodSnapshot) -> None:
        behaviour = self._behaviours.get(pod.image)
        if behaviour is None:
            behaviour = self._behaviours[pod.image] = self._config.behaviour_for(pod.image)
        key = (pod.namespace, service.name, pod.name)
        counters = self._counters.get(key)
        if counters is None:
            counters = self._counters[key] = _Counters(codes=_initial_codes(behaviour))
        counters.observe(behaviour.sample_code(self._rng), behaviour.sample_latency(self._rng))
        ref = f"{pod.namespace}/{pod.name}"
        self._totals[ref] = self._totals.get(ref, 0) + 1

    def _forget_gone(self, snapshot: snap.ClusterSnapshot) -> None:
        for key in [k for k in self._counters if (k[0], k[2]) not in self._live]:
            del self._counters[key]
        services = {(s.namespace, s.name) for s in snapshot.services}
        for service in [k for k in self._carry if k not in services]:
            del self._carry[service]


def _initial_codes(behaviour: sandbox_config.ImageBehaviour) -> dict[int, int]:
    """Every code the image can answer, at 0, so each series exists from its first scrape.

    Like an app that pre-initialises its counters: a 5xx series born at 1 would have
    its first failure missed by PromQL's rate().
    """
    codes = {200: 0}
    if behaviour.error_rate > 0:
        codes.update((code, 0) for code, _ in behaviour.error_codes)
    return codes


class _Router:
    """One tick's view of the snapshot that answers "which pod serves this request"."""

    def __init__(self, snapshot: snap.ClusterSnapshot) -> None:
        self._snapshot = snapshot
        self._pods = {(pod.namespace, pod.name): pod for pod in snapshot.pods}
        self._services = {(svc.namespace, svc.name): svc for svc in snapshot.services}
        self._endpoints: dict[tuple[str, str, str | None], tuple[snap.PodSnapshot, ...]] = {}

    def virtual_service_for(self, service: snap.ServiceSnapshot) -> snap.VirtualServiceSpec | None:
        """The first (by name) mesh VirtualService in the namespace with a host for `service`."""
        candidates = sorted(
            (vs for vs in self._snapshot.virtual_services if vs.namespace == service.namespace),
            key=lambda vs: vs.name,
        )
        for vs in candidates:
            gateways = vs.spec.get("gateways") or ["mesh"]
            if "mesh" not in gateways:
                continue
            hosts = vs.spec.get("hosts") or []
            if any(self.resolve(host, vs.namespace) is service for host in hosts):
                return vs.spec
        return None

    def route(
        self,
        service: snap.ServiceSnapshot,
        spec: snap.VirtualServiceSpec | None,
        headers: Mapping[str, str],
        rng: random.Random,
    ) -> list[Delivery]:
        """Where one request lands: nothing (no route / no endpoint), one pod, or + mirror."""
        if spec is None:
            return self._deliver(service, None, rng)
        http = _first_matching_route(spec.get("http") or [], headers)
        if http is None:
            return []  # Istio answers 404 (no route) without reaching a pod
        deliveries: list[Delivery] = []
        destination = _weighted_destination(http.get("route") or [], rng)
        if destination is not None:
            deliveries += self._deliver_to(destination, service.namespace, rng)
        mirror = http.get("mirror")
        if mirror and rng.random() * 100.0 < _mirror_percent(http):
            deliveries += self._deliver_to(mirror, service.namespace, rng)
        return deliveries

    def resolve(self, host: str, namespace: str) -> snap.ServiceSnapshot | None:
        """The Service a host names: `name`, `name.ns`, `name.ns.svc[.cluster.local]`."""
        name, _, rest = host.partition(".")
        if rest:
            namespace, _, suffix = rest.partition(".")
            if suffix not in _CLUSTER_SUFFIXES:
                return None
        return self._services.get((namespace, name))

    def _deliver_to(
        self, destination: snap.Destination, namespace: str, rng: random.Random
    ) -> list[Delivery]:
        if not isinstance(destination, dict):
            return []
        service = self.resolve(str(destination.get("host", "")), namespace)
        if service is None:
            return []
        subset = destination.get("subset")
        return self._deliver(service, str(subset) if subset else None, rng)

    def _deliver(
        self, service: snap.ServiceSnapshot, subset: str | None, rng: random.Random
    ) -> list[Delivery]:
        pods = self._ready_pods(service, subset)
        return [(service, rng.choice(pods))] if pods else []

    def _ready_pods(
        self, service: snap.ServiceSnapshot, subset: str | None
    ) -> tuple[snap.PodSnapshot, ...]:
        key = (service.namespace, service.name, subset)
        if key not in self._endpoints:
            pods = [
                self._pods[(service.namespace, name)]
                for name in service.endpoints
                if (service.namespace, name) in self._pods
            ]
            if subset is not None:
                labels = self._subset_labels(service, subset)
                pods = [p for p in pods if labels is not None and _has_labels(p, labels)]
            self._endpoints[key] = tuple(pods)
        return self._endpoints[key]

    def _subset_labels(
        self, service: snap.ServiceSnapshot, subset: str
    ) -> Mapping[str, str] | None:
        for rule in sorted(self._snapshot.destination_rules, key=lambda r: (r.namespace, r.name)):
            if self.resolve(rule.host, rule.namespace) is not service:
                continue
            for candidate in rule.subsets:
                if candidate.name == subset:
                    return candidate.labels
        return None  # unknown subset: Istio has no cluster for it, the request fails


def _has_labels(pod: snap.PodSnapshot, labels: Mapping[str, str]) -> bool:
    return all(pod.labels.get(key) == value for key, value in labels.items())


def _first_matching_route(
    routes: Sequence[snap.HTTPRoute], headers: Mapping[str, str]
) -> snap.HTTPRoute | None:
    for route in routes:
        if not isinstance(route, dict):
            continue  # malformed (no admission webhook here): Istio would reject it
        matches = route.get("match") or []
        if not matches or any(_request_matches(match, headers) for match in matches):
            return route
    return None


def _request_matches(match: snap.HTTPMatchRequest, headers: Mapping[str, str]) -> bool:
    if not isinstance(match, dict):
        return False
    for name, condition in (match.get("headers") or {}).items():
        value = headers.get(name.lower())
        if value is None or not _string_matches(condition, value):
            return False
    for name, condition in (match.get("withoutHeaders") or {}).items():
        value = headers.get(name.lower())
        if value is not None and _string_matches(condition, value):
            return False
    if "uri" in match and not _string_matches(match["uri"], _REQUEST_URI):
        return False
    return not ("method" in match and not _string_matches(match["method"], _REQUEST_METHOD))


def _string_matches(condition: snap.StringMatch, value: str) -> bool:
    """Istio StringMatch; an empty condition only asks that the value be present."""
    if not isinstance(condition, dict):
        return False
    if "exact" in condition:
        return value == condition["exact"]
    if "prefix" in condition:
        return value.startswith(condition["prefix"])
    if "regex" in condition:
        try:
            return re.fullmatch(condition["regex"], value) is not None
        except re.error:
            return False
    return True


def _weighted_destination(
    destinations: Sequence[snap.HTTPRouteDestination], rng: random.Random
) -> snap.Destination | None:
    usable = [d for d in destinations if isinstance(d, dict) and d.get("destination")]
    if len(usable) == 1:
        return usable[0]["destination"]
    weights = [max(0.0, _as_float(d.get("weight", 0))) for d in usable]
    if sum(weights) <= 0:
        return None
    return rng.choices(usable, weights)[0]["destination"]


def _mirror_percent(route: snap.HTTPRoute) -> float:
    percentage = route.get("mirrorPercentage")
    if isinstance(percentage, dict):
        return _as_float(percentage.get("value", 0))
    if "mirror_percent" in route:
        return _as_float(route["mirror_percent"])
    return 100.0


def _as_float(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return 0.0
