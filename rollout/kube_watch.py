"""List-then-watch streams with resume and re-list, and the waits built on them.

A "kube" module: with kube.py and kube_errors.py the only code allowed to touch the
kubernetes client (here: reading a urllib3 watch response; urllib3 is imported inside
functions). `Cluster` is the transport; this module holds the follow/resume logic:

- list (resourceVersion R), then watch from R;
- a stream that ends (server timeout, a cut connection) is resumed from the last
  resourceVersion seen (`kube.watch.resumed`);
- 410 Gone (an HTTP 410 or a watch ERROR event) means the history is gone: re-list
  and continue from the new list (`kube.watch.relisted`);
- everything stops at a deadline. Nothing sleeps: time passes only in socket reads.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from rollout import errors, kube_errors

if TYPE_CHECKING:
    from rollout.kube_types import Object, Resource
    from rollout.settings import Settings
    from rollout.spec import ObjectRef

log = structlog.get_logger(__name__)

LIST = "LIST"  # pseudo event of follow(): payload is the full list after a (re)list


class Transport(Protocol):
    """What follow() needs from Cluster: a consistent list and a raw watch stream."""

    def list_with_version(
        self, res: Resource, namespace: str | None, *, labels: str | None, fields: str | None
    ) -> tuple[list[Object], str]: ...

    def open_watch(
        self,
        res: Resource,
        namespace: str | None,
        *,
        resource_version: str,
        labels: str | None,
        fields: str | None,
        timeout: float,
    ) -> tuple[Any, kube_errors.Call]: ...


def follow(
    t: Transport,
    res: Resource,
    namespace: str | None,
    *,
    labels: str | None = None,
    fields: str | None = None,
    deadline: float,
) -> Generator[tuple[str, Any], None, None]:
    """(LIST, items) after each (re)list, then (type, object) per watch event, until deadline."""
    rv = ""
    relist = True
    while True:
        if relist:
            items, rv = t.list_with_version(res, namespace, labels=labels, fields=fields)
            relist = False
            yield LIST, items
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            resp, call = t.open_watch(
                res, namespace, resource_version=rv, labels=labels, fields=fields, timeout=remaining
            )
        except kube_errors.Expired:
            relist = _relisting(res, namespace, rv)
            continue
        try:
            for type_, obj in events(resp, call):
                rv = obj.get("metadata", {}).get("resourceVersion") or rv
                if type_ != "BOOKMARK":
                    yield type_, obj
                if time.monotonic() >= deadline:
                    return
        except kube_errors.Expired:
            relist = _relisting(res, namespace, rv)
            continue
        except errors.ServerError as e:  # an ERROR event with a 5xx Status: resume
            log.debug("kube.watch.dropped", path=call.path, code=e.code, reason=e.reason)
        finally:
            close(resp)
        if time.monotonic() >= deadline:
            return
        log.debug(
            "kube.watch.resumed", resource=res.plural, namespace=namespace, resource_version=rv
        )


def _relisting(res: Resource, namespace: str | None, rv: str) -> bool:
    log.info("kube.watch.relisted", resource=res.plural, namespace=namespace, resource_version=rv)
    return True


def events(resp: Any, call: kube_errors.Call) -> Iterator[tuple[str, Object]]:
    """Decoded events of one watch response; ends quietly when the stream ends or breaks.

    An ERROR event raises: `kube_errors.Expired` for 410, else the translated Status.
    """
    import http.client

    import urllib3.exceptions as u3

    buffer = b""
    try:
        for chunk in resp.stream(amt=None, decode_content=False):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                event = _decode(line, call)
                if event is not None:
                    yield event
    except (u3.HTTPError, http.client.HTTPException, OSError) as e:
        log.debug("kube.watch.dropped", path=call.path, error=type(e).__name__)
        return
    event = _decode(buffer, call)
    if event is not None:
        yield event


def _decode(line: bytes, call: kube_errors.Call) -> tuple[str, Object] | None:
    if not line.strip():
        return None
    try:
        doc = json.loads(line)
        type_, obj = str(doc["type"]), doc["object"]
    except (ValueError, KeyError, TypeError):
        log.debug("kube.watch.garbled", path=call.path, line=line[:200])
        return None
    if type_ == "ERROR":
        raise kube_errors.from_status(obj, call)
    return type_, obj


def close(resp: Any) -> None:
    """Drop a streaming response's connection (it may be mid-stream) and free its pool slot."""
    resp.close()
    resp.release_conn()


def watch_call(
    res: Resource,
    namespace: str | None,
    *,
    resource_version: str,
    labels: str | None,
    fields: str | None,
    timeout: float,
    settings: Settings,
) -> kube_errors.Call:
    """The GET ?watch=true for `timeout` more seconds from `resource_version`.

    The server ends the stream by itself after at most `settings.watch_timeout`; the
    client's read timeout ends it exactly at the deadline (or guards against a silent
    server a little after the server's own timeout).
    """
    server_timeout = max(1, math.ceil(min(timeout, settings.watch_timeout)))
    read_timeout = min(timeout, server_timeout + 5.0)
    query = [
        ("watch", "true"),
        ("allowWatchBookmarks", "true"),
        ("resourceVersion", resource_version),
        ("timeoutSeconds", str(server_timeout)),
    ]
    query += [(k, v) for k, v in (("labelSelector", labels), ("fieldSelector", fields)) if v]
    where = f"in {namespace}" if res.namespaced and namespace else "in the cluster"
    return kube_errors.Call(
        "watch",
        "GET",
        res.path(namespace),
        f"{res.kind} watch {where}",
        query,
        timeout=(settings.retry.request_timeout, read_timeout),
    )


def wait_for(
    t: Transport,
    res: Resource,
    ref: ObjectRef,
    predicate: Callable[[Object | None], bool],
    *,
    timeout: float,
    describe: str,
    subject: str,
) -> Object | None:
    """Follow one object until `predicate(object or None)` holds; WaitTimeout at the deadline."""
    deadline = time.monotonic() + timeout
    current: Object | None = None
    namespace = ref.namespace if res.namespaced else None
    stream = follow(t, res, namespace, fields=f"metadata.name={ref.name}", deadline=deadline)
    try:
        for type_, payload in stream:
            if type_ == LIST:
                current = payload[0] if payload else None
            else:
                current = None if type_ == "DELETED" else payload
            if predicate(current):
                return current
    finally:
        stream.close()
    what = describe or "condition"
    raise errors.WaitTimeout(
        f"{subject}: {what} not met after {timeout:g}s ({_evidence(current)})", last=current
    )


def watch_list(
    t: Transport, res: Resource, namespace: str | None, *, labels: str | None, timeout: float
) -> Iterator[tuple[str, Object]]:
    """ADDED for each listed object, then watch events; a re-list yields the difference."""
    known: dict[tuple[str, str], Object] = {}
    stream = follow(t, res, namespace, labels=labels, deadline=time.monotonic() + timeout)
    try:
        for type_, payload in stream:
            if type_ == LIST:
                fresh = {_key(o): o for o in payload}
                yield from _difference(known, fresh)
                known = fresh
                continue
            if type_ == "DELETED":
                known.pop(_key(payload), None)
            else:
                known[_key(payload)] = payload
            yield type_, payload
    finally:
        stream.close()


def _difference(
    old: dict[tuple[str, str], Object], new: dict[tuple[str, str], Object]
) -> Iterator[tuple[str, Object]]:
    for key, obj in new.items():
        before = old.get(key)
        if before is None:
            yield "ADDED", obj
        elif _rv(before) != _rv(obj):
            yield "MODIFIED", obj
    for key, obj in old.items():
        if key not in new:
            yield "DELETED", obj


def _key(obj: Object) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


def _rv(obj: Object) -> str:
    return str(obj.get("metadata", {}).get("resourceVersion", ""))


def _evidence(obj: Object | None) -> str:
    if obj is None:
        return "the object does not exist"
    meta = obj.get("metadata", {})
    parts = [f"last seen at resourceVersion {meta.get('resourceVersion', '?')}"]
    if "generation" in meta:
        observed = obj.get("status", {}).get("observedGeneration", "?")
        parts.append(f"generation {meta['generation']}, observed {observed}")
    return ", ".join(parts)
