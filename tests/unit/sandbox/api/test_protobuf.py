"""Protobuf request bodies (what kubectl's typed clients send) decode to the same JSON."""

from __future__ import annotations

import pytest

from rollout.sandbox.api import protobuf
from rollout.sandbox.store import errors


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bytes(number: int, data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _entry(number: int, key: str, value: bytes | str) -> bytes:
    return _bytes(number, _bytes(1, key) + _bytes(2, value))


def _body(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _bytes(1, api_version) + _bytes(2, kind)
    return protobuf.MAGIC + _bytes(1, type_meta) + _bytes(2, raw) + _bytes(3, "") + _bytes(4, "")


# ObjectMeta as Go writes it: every scalar field, even empty ones.
META = (
    _bytes(1, "web")
    + _bytes(2, "")
    + _bytes(3, "")
    + _bytes(6, "")
    + _int(7, 0)
    + _bytes(8, "")
    + _entry(11, "app", "web")
)


def test_namespace_decodes_with_empty_fields_dropped() -> None:
    body = _body("v1", "Namespace", _bytes(1, META) + _bytes(2, b"") + _bytes(3, _bytes(1, "")))
    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "web", "labels": {"app": "web"}},
    }


def test_deployment_keeps_an_explicit_zero_replicas_and_nested_containers() -> None:
    port = _int(2, 0) + _int(3, 8080) + _bytes(4, "TCP")
    container = _bytes(1, "app") + _bytes(2, "app:v1") + _bytes(6, port) + _bytes(14, "")
    template = _bytes(1, META) + _bytes(2, _bytes(2, container) + _bytes(3, ""))
    surge = _int(1, 1) + _int(2, 0) + _bytes(3, "25%")
    strategy = _bytes(1, "RollingUpdate") + _bytes(
        2, _bytes(1, _int(1, 0) + _int(2, 1)) + _bytes(2, surge)
    )
    spec = (
        _int(1, 0)
        + _bytes(2, _entry(1, "app", "web"))
        + _bytes(3, template)
        + _bytes(4, strategy)
        + _int(5, 0)
        + _int(7, 0)
    )
    obj = protobuf.decode(_body("apps/v1", "Deployment", _bytes(1, META) + _bytes(2, spec)))
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert obj["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"},
    }
    assert obj["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "app:v1", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
    ]


def test_secret_bytes_become_base64_and_service_ports_keep_int_or_string() -> None:
    secret = protobuf.decode(
        _body("v1", "Secret", _bytes(1, META) + _entry(2, "a", b"\x00b") + _bytes(3, "Opaque"))
    )
    assert secret["data"] == {"a": "AGI="} and secret["type"] == "Opaque"
    ports = _bytes(
        1,
        _bytes(1, "http")
        + _bytes(2, "TCP")
        + _int(3, 80)
        + _bytes(4, _int(1, 1) + _int(2, 0) + _bytes(3, "http"))
        + _int(5, 30080),
    )
    service = protobuf.decode(_body("v1", "Service", _bytes(1, META) + _bytes(2, ports)))
    assert service["spec"]["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080}
    ]


def test_negative_int32_decodes_from_its_64_bit_varint() -> None:
    body = _body("v1", "DeleteOptions", _int(1, -1))
    assert protobuf.decode(body)["gracePeriodSeconds"] == -1


@pytest.mark.parametrize(
    "body", [b"not protobuf", protobuf.MAGIC + b"\x0a\x05ab", protobuf.MAGIC + b"\x0f"]
)
def test_bodies_that_do_not_parse_are_400(body: bytes) -> None:
    with pytest.raises(errors.ApiError) as err:
        protobuf.decode(body)
    assert (err.value.code, err.value.reason) == (400, "BadRequest")


def test_a_kind_without_a_field_table_is_415() -> None:
    with pytest.raises(errors.ApiError) as err:
        protobuf.decode(_body("v1", "Pod", _bytes(1, META)))
    assert (err.value.code, err.value.reason) == (415, "UnsupportedMediaType")
