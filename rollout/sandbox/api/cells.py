"""Cell formatting for server-side Tables: ages, selectors, pod status, service IPs,
endpoints and events, as upstream's printers (pkg/printers/internalversion) format them.

Pure functions over JSON dicts; `now` is passed in.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from rollout.sandbox.store.selectors import SelectorError, label_selector_from_object

Obj = dict[str, Any]
Cells = list[Any]
NONE = "<none>"


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, hours // 24 % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def since(timestamp: str | None, now: datetime.datetime) -> str:
    """translateTimestampSince: the age of an RFC 3339 timestamp, `<unknown>` when unset."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.timezone.utc)
    return human_duration((now - then).total_seconds())


def selector_text(selector: Obj | None) -> str:
    """metav1.LabelSelectorAsSelector(...).String()."""
    try:
        return str(label_selector_from_object(selector))
    except SelectorError:
        return ""


def _init_reason(spec: Obj, status: Obj) -> str | None:
    """The `Init:...` status of a pod still initialising, None once initialised."""
    for i, c in enumerate(status.get("initContainerStatuses") or []):
        state = c.get("state") or {}
        done, waiting = state.get("terminated"), state.get("waiting")
        if done and done.get("exitCode", 0) == 0:
            continue
        if done:
            if done.get("reason"):
                return f"Init:{done['reason']}"
            if done.get("signal"):
                return f"Init:Signal:{done['signal']}"
            return f"Init:ExitCode:{done.get('exitCode', 0)}"
        if waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{len(spec.get('initContainers') or [])}"
    return None


def _container_reason(status: Obj, reason: str) -> tuple[str, int, int, str]:
    """printPod's walk over container statuses: (reason, ready, restarts, last restart)."""
    ready = restarts = 0
    last, running = "", False
    for c in reversed(status.get("containerStatuses") or []):
        restarts += int(c.get("restartCount") or 0)
        finished = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        last = max(last, finished or "")
        state = c.get("state") or {}
        waiting, done = state.get("waiting") or {}, state.get("terminated")
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif done is not None:
            reason = done.get("reason") or (
                f"Signal:{done['signal']}"
                if done.get("signal")
                else f"ExitCode:{done.get('exitCode', 0)}"
            )
        elif c.get("ready") and state.get("running") is not None:
            running, ready = True, ready + 1
    if reason == "Completed" and running:
        conditions = status.get("conditions") or []
        ok = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        reason = "Running" if ok else "NotReady"
    return reason, ready, restarts, last


def external_ip(obj: Obj) -> str:
    """getServiceExternalIP: by service type; load balancers list their ingress first."""
    spec = obj.get("spec", {})
    external = list(spec.get("externalIPs") or [])
    kind = spec.get("type", "ClusterIP")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    if kind == "LoadBalancer":
        ingress = (obj.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        found = [i.get("ip") or i.get("hostname") for i in ingress]
        return ",".join(str(a) for a in [*found, *external] if a) or "<pending>"
    return "<unknown>"


def endpoints_text(obj: Obj, limit: int = 3) -> str:
    """formatEndpoints: up to three `ip:port`, then `+ N more...`; `<none>` when empty."""
    subsets = obj.get("subsets") or []
    if not subsets:
        return NONE
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        targets = (
            [f"{ip}:{p.get('port')}" for p in subset["ports"] for ip in addresses]
            if subset.get("ports")
            else addresses
        )
        count += len(targets)
        shown += targets[: max(0, limit - len(shown))]
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if count > limit else text


def json_path_text(value: Any) -> Any:
    """How a CRD printer column of type string shows a value (JSON for lists/maps)."""
    if value is None:
        return None
    return (
        json.dumps(value, separators=(",", ":")) if isinstance(value, list | dict) else str(value)
    )


def age(obj: Obj, now: datetime.datetime) -> str:
    """The AGE cell: time since creationTimestamp."""
    return since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def workload_wide(obj: Obj) -> Cells:
    """CONTAINERS, IMAGES, SELECTOR of a Deployment or ReplicaSet."""
    spec = obj.get("spec") or {}
    containers = (spec.get("template") or {}).get("spec", {}).get("containers") or []
    return [
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        selector_text(spec.get("selector")),
    ]


def labels_text(labels: Obj | None) -> str:
    """labels.FormatLabels: sorted `k=v,...`, `<none>` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or NONE


def pod(obj: Obj, now: datetime.datetime) -> Cells:
    """printPod's cells but the name and age: ready, status, restarts, IP, node, nominated
    node, readiness gates."""
    spec, status = obj.get("spec", {}), obj.get("status") or {}
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
        for c in status.get("conditions") or []
    ):
        reason = "SchedulingGated"
    ready = restarts = 0
    last = ""
    initializing = _init_reason(spec, status)
    if initializing is None:
        reason, ready, restarts, last = _container_reason(status, reason)
    else:
        reason = initializing
        restarts = sum(
            int(c.get("restartCount") or 0) for c in status.get("initContainerStatuses") or []
        )
    if obj.get("metadata", {}).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts_text = f"{restarts} ({since(last, now)} ago)" if restarts and last else str(restarts)
    gates = spec.get("readinessGates") or []
    wanted = {g.get("conditionType") for g in gates}
    true = sum(
        1
        for c in status.get("conditions") or []
        if c.get("type") in wanted and c.get("status") == "True"
    )
    return [
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        restarts_text,
        status.get("podIP") or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        f"{true}/{len(gates)}" if gates else NONE,
    ]


def service(obj: Obj) -> Cells:
    """printService's cells but name and age: type, cluster IP, external IP, ports, selector."""
    spec = obj.get("spec", {})
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = []
    for p in spec.get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return [
        spec.get("type", "ClusterIP"),
        cluster_ips[0] if cluster_ips else NONE,
        external_ip(obj),
        ",".join(ports) or NONE,
        labels_text(spec.get("selector")),
    ]


def event(obj: Obj, now: datetime.datetime) -> Cells:
    """printEvent's wide cells."""
    first = (
        since(obj.get("firstTimestamp"), now)
        if obj.get("firstTimestamp")
        else since(obj.get("eventTime"), now)
    )
    last = since(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 1
    if obj.get("series"):
        last = since(obj["series"].get("lastObservedTime"), now)
        count = obj["series"].get("count", count)
    involved = obj.get("involvedObject") or {}
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent", "")
    instance = source.get("host") or obj.get("reportingInstance", "")
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(obj.get("message", "")).strip(),
        first,
        count,
        obj.get("metadata", {}).get("name", ""),
    ]
