"""Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).

kubectl's typed clients send protobuf for `kubectl create namespace|deployment|configmap|
secret|service|serviceaccount|role|clusterrole|rolebinding|clusterrolebinding`. A body
is `k8s\\x00` + runtime.Unknown{typeMeta, raw}; `raw` is the generated message of the
kind. This module knows the field numbers (from k8s.io/api's generated.proto) of the
fields those commands set and turns them into the JSON the rest of the sandbox speaks;
other fields are dropped. Pure: no I/O.
"""

from __future__ import annotations

import base64
from typing import Any

from rollout.sandbox import kinds
from rollout.sandbox.store import errors

Obj = dict[str, Any]
MAGIC = b"k8s\x00"
# A field: (json name, type[, keep zero]). Types: "s" string, "i" int, "b" bool,
# "map" map<string,string>, "bytesmap" map<string,bytes> (base64 in JSON), "ios"
# IntOrString, "qmap" map<string,Quantity>, ("rep", type) repeated, or a message dict.
Field = tuple[Any, ...]
Message = dict[int, Field]

META: Message = {
    1: ("name", "s"),
    2: ("generateName", "s"),
    3: ("namespace", "s"),
    5: ("uid", "s"),
    6: ("resourceVersion", "s"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
    14: ("finalizers", ("rep", "s")),
}
SELECTOR: Message = {
    1: ("matchLabels", "map"),
    2: (
        "matchExpressions",
        ("rep", {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", ("rep", "s"))}),
    ),
}
CONTAINER: Message = {
    1: ("name", "s"),
    2: ("image", "s"),
    3: ("command", ("rep", "s")),
    4: ("args", ("rep", "s")),
    5: ("workingDir", "s"),
    6: (
        "ports",
        (
            "rep",
            {
                1: ("name", "s"),
                2: ("hostPort", "i"),
                3: ("containerPort", "i", True),
                4: ("protocol", "s"),
            },
        ),
    ),
    7: ("env", ("rep", {1: ("name", "s"), 2: ("value", "s")})),
    8: ("resources", {1: ("limits", "qmap"), 2: ("requests", "qmap")}),
    13: ("terminationMessagePath", "s"),
    14: ("imagePullPolicy", "s"),
    20: ("terminationMessagePolicy", "s"),
}
POD_SPEC: Message = {
    2: ("containers", ("rep", CONTAINER)),
    3: ("restartPolicy", "s"),
    4: ("terminationGracePeriodSeconds", "i", True),
    6: ("dnsPolicy", "s"),
    7: ("nodeSelector", "map"),
    8: ("serviceAccountName", "s"),
    10: ("nodeName", "s"),
    19: ("schedulerName", "s"),
    20: ("initContainers", ("rep", CONTAINER)),
}
DEPLOYMENT_SPEC: Message = {
    1: ("replicas", "i", True),
    2: ("selector", SELECTOR),
    3: ("template", {1: ("metadata", META), 2: ("spec", POD_SPEC)}),
    4: (
        "strategy",
        {
            1: ("type", "s"),
            2: ("rollingUpdate", {1: ("maxUnavailable", "ios"), 2: ("maxSurge", "ios")}),
        },
    ),
    5: ("minReadySeconds", "i"),
    6: ("revisionHistoryLimit", "i", True),
    7: ("paused", "b"),
    9: ("progressDeadlineSeconds", "i", True),
}
SERVICE_SPEC: Message = {
    1: (
        "ports",
        (
            "rep",
            {
                1: ("name", "s"),
                2: ("protocol", "s"),
                3: ("port", "i", True),
                4: ("targetPort", "ios"),
                5: ("nodePort", "i"),
                6: ("appProtocol", "s"),
            },
        ),
    ),
    2: ("selector", "map"),
    3: ("clusterIP", "s"),
    4: ("type", "s"),
    5: ("externalIPs", ("rep", "s")),
    7: ("sessionAffinity", "s"),
    10: ("externalName", "s"),
    11: ("externalTrafficPolicy", "s"),
    18: ("clusterIPs", ("rep", "s")),
}
POLICY_RULE: Message = {
    1: ("verbs", ("rep", "s")),
    2: ("apiGroups", ("rep", "s")),
    3: ("resources", ("rep", "s")),
    4: ("resourceNames", ("rep", "s")),
    5: ("nonResourceURLs", ("rep", "s")),
}
SUBJECT: Message = {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")}
BINDING: Message = {
    1: ("metadata", META),
    2: ("subjects", ("rep", SUBJECT)),
    3: ("roleRef", {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")}),
}
RBAC = f"{kinds.RBAC}/v1"
KINDS: dict[tuple[str, str], Message] = {
    ("v1", "Namespace"): {1: ("metadata", META), 2: ("spec", {1: ("finalizers", ("rep", "s"))})},
    ("v1", "ConfigMap"): {
        1: ("metadata", META),
        2: ("data", "map"),
        3: ("binaryData", "bytesmap"),
        4: ("immutable", "b", True),
    },
    ("v1", "Secret"): {
        1: ("metadata", META),
        2: ("data", "bytesmap"),
        3: ("type", "s"),
        4: ("stringData", "map"),
        5: ("immutable", "b", True),
    },
    ("v1", "Service"): {1: ("metadata", META), 2: ("spec", SERVICE_SPEC)},
    ("v1", "ServiceAccount"): {
        1: ("metadata", META),
        3: ("imagePullSecrets", ("rep", {1: ("name", "s")})),
        4: ("automountServiceAccountToken", "b", True),
    },
    (RBAC, "Role"): {1: ("metadata", META), 2: ("rules", ("rep", POLICY_RULE))},
    (RBAC, "ClusterRole"): {
        1: ("metadata", META),
        2: ("rules", ("rep", POLICY_RULE)),
        3: ("aggregationRule", {1: ("clusterRoleSelectors", ("rep", SELECTOR))}),
    },
    (RBAC, "RoleBinding"): BINDING,
    (RBAC, "ClusterRoleBinding"): BINDING,
    ("apps/v1", "Deployment"): {1: ("metadata", META), 2: ("spec", DEPLOYMENT_SPEC)},
    ("v1", "DeleteOptions"): {
        1: ("gracePeriodSeconds", "i", True),
        2: ("preconditions", {1: ("uid", "s"), 2: ("resourceVersion", "s")}),
        3: ("orphanDependents", "b", True),
        4: ("propagationPolicy", "s"),
        5: ("dryRun", ("rep", "s")),
    },
}


class WireError(ValueError):
    """Bytes that are not a protobuf message."""


def decode(body: bytes) -> Obj:
    """The JSON object of a protobuf request body; 400 when it does not parse, 415 for a
    kind this module has no field table for."""
    if not body.startswith(MAGIC):
        raise errors.bad_request(
            "provided protobuf data does not start with the Kubernetes magic number"
        )
    try:
        unknown = _fields(body[len(MAGIC) :])
        type_meta = _fields(unknown.get(1, [b""])[0])
        api_version = type_meta.get(1, [b""])[0].decode()
        kind = type_meta.get(2, [b""])[0].decode()
        message = KINDS.get((api_version, kind))
        if message is None:
            raise errors.ApiError(
                415,
                "UnsupportedMediaType",
                f"the sandbox cannot decode {kind} ({api_version}) from protobuf; send JSON",
            )
        obj = _message(unknown.get(2, [b""])[0], message)
    except (WireError, UnicodeDecodeError, IndexError) as e:
        raise errors.bad_request(f"unable to decode protobuf body: {e}") from e
    return {"apiVersion": api_version, "kind": kind, **obj}


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data) or shift > 63:
            raise WireError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _fields(data: bytes) -> dict[int, list[Any]]:
    """Field number -> values (ints for varints, bytes for length-delimited)."""
    out: dict[int, list[Any]] = {}
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            if i + size > len(data):
                raise WireError("truncated field")
            value, i = data[i : i + size], i + size
        elif wire in (1, 5):
            value, i = data[i : i + (8 if wire == 1 else 4)], i + (8 if wire == 1 else 4)
        else:
            raise WireError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _message(data: bytes, message: Message) -> Obj:
    obj: Obj = {}
    for number, values in _fields(data).items():
        field = message.get(number)
        if field is None:
            continue
        name, kind = field[0], field[1]
        keep = len(field) > 2
        if isinstance(kind, tuple):  # repeated
            value: Any = [_value(v, kind[1]) for v in values]
        else:
            value = (
                _value(values[-1], kind)
                if kind not in ("map", "bytesmap", "qmap")
                else {k: v for k, v in (_entry(e, kind) for e in values)}
            )
        if keep or value not in ("", 0, False, {}, [], None):
            obj[name] = value
    return obj


def _value(raw: Any, kind: Any) -> Any:
    if isinstance(kind, dict):
        return _message(_bytes(raw), kind)
    if kind == "s":
        return _bytes(raw).decode()
    if kind == "b":
        return bool(raw)
    if kind == "i":
        value = int(raw) if isinstance(raw, int) else 0
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "ios":
        parts = _fields(_bytes(raw))
        if parts.get(1, [0])[0] == 1:
            return parts.get(3, [b""])[0].decode()
        return _value(parts.get(2, [0])[0], "i")
    raise WireError(f"unknown field type {kind}")


def _entry(raw: Any, kind: str) -> tuple[str, Any]:
    """One map entry (key = 1, value = 2)."""
    parts = _fields(_bytes(raw))
    key = parts.get(1, [b""])[0].decode()
    value = parts.get(2, [b""])[0]
    if kind == "bytesmap":
        return key, base64.b64encode(_bytes(value)).decode()
    if kind == "qmap":
        return key, _fields(_bytes(value)).get(1, [b""])[0].decode()
    return key, _bytes(value).decode()


def _bytes(raw: Any) -> bytes:
    if not isinstance(raw, bytes):
        raise WireError("expected a length-delimited field")
    return raw
