"""Cluster: the only door to the Kubernetes API (with kube_errors.py and kube_watch.py).

- Config, auth and TLS come from the official client (`load_kube_config`, in-cluster
  fallback). `kubernetes` is imported inside `Cluster.connect`, so importing this
  module at CLI start is cheap.
- Requests go through `ApiClient.call_api` on explicit REST paths with
  `_preload_content=False`; bodies are raw JSON dicts (`Object`), parsed here, never
  deserialized into client models. One mechanism serves every `Resource`.
- Every client/urllib3 failure becomes a `rollout.errors.KubeError` (kube_errors).
  Transient ones (429, 5xx, resets, timeouts) are retried by one tenacity policy
  built from `settings.retry`; 409 on update is re-read and re-applied.
- Waits follow watches (kube_watch); nothing here sleeps except tenacity's backoff.
- Thread-safe for a background lease-renewal thread beside the main one: the urllib3
  pool is thread-safe and tenacity keeps retry state per thread.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import structlog

from rollout import errors, kube_config, kube_errors, kube_watch
from rollout.kube_errors import Call
from rollout.kube_types import (
    Object,
    ObjectMeta,
    PatchType,
    Resource,
    event_for,
    is_equivalent,
    meta,
)
from rollout.settings import Settings
from rollout.spec import ObjectRef

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["Cluster", "Object", "ObjectMeta", "PatchType", "Resource", "is_equivalent", "meta"]

log = structlog.get_logger(__name__)

Objects = list[Object]  # (inside Cluster, `list` is the method)
JsonPatch = list[dict[str, Any]]  # RFC 6902 operations

CONFLICT_ATTEMPTS = 8  # update(): re-reads after 409 before giving up (Flagger: 5)
POOL_SIZE = 8  # HTTP connections kept per Cluster (watch + lease thread + requests)


class Cluster:
    """One connection to one cluster, with retries, conflict handling and waits."""

    def __init__(self, api: ApiClient, *, namespace: str, settings: Settings) -> None:
        """Use `Cluster.connect`; this wraps an already configured ApiClient."""
        self.namespace = namespace
        self.settings = settings
        self.host: str = api.configuration.host
        self._api = api
        self._closed = False
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()  # open watch responses
        self._transport_errors = kube_errors.client_errors()
        self._retry = kube_errors.retry_policy(settings.retry)
        self._reach_retry = kube_errors.retry_policy(
            settings.retry, stop=kube_errors.reachability_stop(settings.retry), quiet=True
        )

    @classmethod
    def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        settings: Settings,
    ) -> Cluster:
        """Load kubeconfig (or in-cluster config); PreconditionError names what is missing.

        The namespace is `namespace`, else the context's, else "default". No request is
        made; call `check_reachable()` for that.
        """
        from kubernetes import client

        cfg = client.Configuration()
        context_namespace = kube_config.load_config(cfg, kubeconfig=kubeconfig, context=context)
        cfg.retries = False  # tenacity retries (kube_errors.retry_policy), urllib3 must not
        cfg.connection_pool_maxsize = POOL_SIZE
        api = client.ApiClient(cfg)
        api.user_agent = f"{settings.user_agent}/{kube_config.rollout_version()}"
        return cls(api, namespace=namespace or context_namespace or "default", settings=settings)

    def with_retry_deadline(self, seconds: float) -> Cluster:
        """This connection (same pool, namespace, settings) with a shorter retry budget,
        e.g. for a lease renewal that must give up before the lease runs out."""
        retry = dataclasses.replace(self.settings.retry, deadline=seconds)
        settings = dataclasses.replace(self.settings, retry=retry)
        return Cluster(self._api, namespace=self.namespace, settings=settings)

    def close(self) -> None:
        """Release the connection pool; requests from then on (a background watch that
        outlived the command) raise errors.ClusterClosed instead of being retried."""
        self._closed = True
        for stream in list(self._streams):
            with contextlib.suppress(ValueError, OSError):  # ValueError: already released
                stream.shutdown()  # a blocked read in another thread returns now
        self._api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -------------------------------------------------------------------

    def check_reachable(self) -> None:
        """GET /version; PreconditionError when the API does not answer within the budget.

        Connection failures (nothing listening, no route) give up after 3 attempts, so a
        wrong kubeconfig fails fast; 5xx/429 are retried for the whole deadline.
        """
        call = Call("get", "GET", "/version", f"Kubernetes API at {self.host}")
        try:
            self._request(call, policy=self._reach_retry)
        except errors.KubeError as e:
            what = "unreachable" if isinstance(e, errors.ServerError) else "not usable"
            raise errors.PreconditionError(
                f"Kubernetes API at {self.host} {what} ({kube_errors.evidence(e)}); "
                "check --kubeconfig/--context"
            ) from e

    def get(self, res: Resource, ref: ObjectRef) -> Object:
        """The object; errors.NotFound when it does not exist."""
        call = Call("get", "GET", res.path(ref.namespace, ref.name), res.subject(ref))
        return self._object(self._request(call), res)

    def find(self, res: Resource, ref: ObjectRef) -> Object | None:
        """The object, or None when it does not exist."""
        try:
            return self.get(res, ref)
        except errors.NotFound:
            return None

    def list(self, res: Resource, namespace: str, *, labels: str | None = None) -> Objects:
        """Objects in `namespace` ("" = all namespaces) matching a label selector."""
        return self.list_with_version(res, namespace, labels=labels)[0]

    def list_with_version(
        self,
        res: Resource,
        namespace: str | None,
        *,
        labels: str | None = None,
        fields: str | None = None,
    ) -> tuple[Objects, str]:
        """Items (all pages) and the list's resourceVersion, to start a watch from."""
        query = [(k, v) for k, v in (("labelSelector", labels), ("fieldSelector", fields)) if v]
        where = f"in {namespace}" if res.namespaced and namespace else "in the cluster"
        items: Objects = []
        token = ""
        while True:
            page = query + [("limit", "500")] + ([("continue", token)] if token else [])
            call = Call("list", "GET", res.path(namespace), f"{res.kind} list {where}", page)
            doc = self._request(call)
            items.extend(self._object(item, res) for item in doc.get("items") or [])
            token = (doc.get("metadata") or {}).get("continue") or ""
            if not token:
                return items, str((doc.get("metadata") or {}).get("resourceVersion", ""))

    # -- writes ------------------------------------------------------------------

    def create(
        self, res: Resource, body: Object, *, namespace: str, dry_run: bool = False
    ) -> Object:
        """Create `body`; errors.Conflict (reason AlreadyExists) when the name is taken.

        A create whose response was lost (connection error, timeout, 5xx) is retried;
        if the retry meets AlreadyExists and the existing object already holds every
        field of `body` (server defaults aside), that object is returned: it is ours.
        Objects created with only `generateName` cannot be recognised and may double.
        """
        name = meta(body).get("name") or meta(body).get("generateName", "")
        ref = ObjectRef(namespace, name)
        call = self._write("create", "POST", res, ref, body, dry_run=dry_run, collection=True)
        try:
            return self._object(self._request(call), res)
        except errors.Conflict as e:
            if e.reason != "AlreadyExists" or call.attempts < 2 or dry_run:
                raise
            existing = self.find(res, ref)
            if existing is None or not is_equivalent(body, existing):
                raise
            log.info("kube.create.recovered", resource=res.plural, ref=str(ref))
            return existing

    def patch(
        self,
        res: Resource,
        ref: ObjectRef,
        body: Object | JsonPatch,
        *,
        type: PatchType = PatchType.MERGE,
        dry_run: bool = False,
    ) -> Object:
        """Patch the object (merge, strategic-merge or JSON patch); returns the result."""
        call = self._write("patch", "PATCH", res, ref, body, dry_run=dry_run)
        call.content_type = type.value
        return self._object(self._request(call), res)

    def update(
        self,
        res: Resource,
        ref: ObjectRef,
        mutate: Callable[[Object], None],
        *,
        base: Object | None = None,
        dry_run: bool = False,
    ) -> Object:
        """GET, `mutate` a copy, PUT it with its resourceVersion; on 409 do it all again.

        `mutate` must be safe to call more than once (it is re-applied to a fresh copy
        after each conflict, at most CONFLICT_ATTEMPTS times). When it changes nothing,
        no PUT is sent and the current object is returned.

        `base`, a copy read earlier (e.g. what the last write returned), replaces the
        first GET: the PUT carries its resourceVersion, so a stale base costs a 409 and
        a fresh round. When `mutate` leaves a base unchanged, the object is read again
        before concluding there is nothing to write.
        """
        attempt = 0
        while attempt < CONFLICT_ATTEMPTS:
            current = base if base is not None else self.get(res, ref)
            desired = copy.deepcopy(current)
            mutate(desired)
            if desired == current:
                if base is None:
                    return current
                base = None  # no change to a possibly stale copy: ask the server
                continue
            base = None
            attempt += 1
            call = self._write("update", "PUT", res, ref, desired, dry_run=dry_run)
            try:
                return self._object(self._request(call), res)
            except errors.Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("kube.conflict.retry", resource=res.plural, ref=str(ref), attempt=attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def delete(
        self,
        res: Resource,
        ref: ObjectRef,
        *,
        propagation: str = "Background",
        dry_run: bool = False,
    ) -> bool:
        """Delete the object; False when it was already gone (also after a lost response)."""
        options: Object = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if dry_run:
            options["dryRun"] = ["All"]
        call = self._write("delete", "DELETE", res, ref, options, dry_run=dry_run)
        try:
            self._request(call)
        except errors.NotFound:
            return False
        return True

    # -- waits -------------------------------------------------------------------

    def wait_for(
        self,
        res: Resource,
        ref: ObjectRef,
        predicate: Callable[[Object | None], bool],
        *,
        timeout: float,
        describe: str = "",
    ) -> Object | None:
        """Until `predicate(obj or None)` holds: read once, then follow a watch.

        Returns the object that satisfied it (None if absence did); errors.WaitTimeout
        (with `last`, the last object seen) after `timeout` seconds.
        """
        return kube_watch.wait_for(
            self, res, ref, predicate, timeout=timeout, describe=describe, subject=res.subject(ref)
        )

    def watch_list(
        self, res: Resource, namespace: str, *, labels: str | None = None, timeout: float
    ) -> Iterator[tuple[str, Object]]:
        """(type, object) for every listed object (ADDED) and every change, for `timeout` s."""
        return kube_watch.watch_list(self, res, namespace, labels=labels, timeout=timeout)

    def open_watch(
        self,
        res: Resource,
        namespace: str | None,
        *,
        resource_version: str,
        labels: str | None,
        fields: str | None,
        timeout: float,
    ) -> tuple[Any, Call]:
        """A raw watch response (kube_watch reads it) and its Call; retried like any GET."""
        call = kube_watch.watch_call(
            res,
            namespace,
            resource_version=resource_version,
            labels=labels,
            fields=fields,
            timeout=timeout,
            settings=self.settings,
        )
        resp = self._retry(self._send, call)
        self._streams.add(resp)
        return resp, call

    # -- events ------------------------------------------------------------------

    def record_event(
        self, involved: Object, *, reason: str, message: str, warning: bool = False
    ) -> None:
        """Record a core/v1 Event on `involved` (shown by `kubectl describe`); never raises."""
        body = event_for(involved, reason=reason, message=message, warning=warning)
        namespace = body["metadata"]["namespace"]
        try:
            self.create(Resource.EVENT, body, namespace=namespace)
        except errors.RolloutError as e:
            log.warning(
                "kube.event.failed",
                reason=reason,
                involved=meta(involved).get("name"),
                error=str(e),
            )

    # -- plumbing ----------------------------------------------------------------

    def _write(
        self,
        verb: str,
        method: str,
        res: Resource,
        ref: ObjectRef,
        body: Any,
        *,
        dry_run: bool,
        collection: bool = False,
    ) -> Call:
        """A write Call: fieldManager (not on DELETE) and dryRun=All in the query."""
        query = [] if verb == "delete" else [("fieldManager", self.settings.field_manager)]
        query += [("dryRun", "All")] if dry_run else []
        path = res.path(ref.namespace, None if collection else ref.name)
        return Call(verb, method, path, res.subject(ref), query, body)

    def _request(self, call: Call, *, policy: Any = None) -> Any:
        """Send `call` with retries and return its parsed JSON body."""
        started = time.monotonic()
        try:
            return (policy or self._retry)(self._send_and_read, call)
        except errors.ServerError as e:
            if call.attempts < 2:
                raise
            raise errors.ServerError(
                f"{e}; gave up after {call.attempts} attempts in {time.monotonic() - started:.1f}s",
                code=e.code,
                reason=e.reason,
            ) from e.__cause__

    def _send_and_read(self, call: Call) -> Any:
        resp = self._send(call)
        try:
            data = resp.data
        except self._transport_errors as e:
            raise kube_errors.translate(e, call) from e
        finally:
            resp.release_conn()
        try:
            return json.loads(data) if data else {}
        except ValueError as e:
            raise errors.KubeError(
                f"{call.subject}: {call.verb} got a response that is not JSON ({data[:100]!r})",
                reason="BadResponse",
            ) from e

    def _send(self, call: Call) -> Any:
        """One HTTP attempt; the urllib3 response, unread. Failures become rollout errors."""
        if self._closed:
            raise errors.ClusterClosed(f"{call.subject}: {call.verb} after the client closed")
        call.attempts += 1
        try:
            return self._api.call_api(
                call.path,
                call.method,
                query_params=list(call.query),
                header_params={"Accept": "application/json", "Content-Type": call.content_type},
                body=call.body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=call.timeout or self.settings.retry.request_timeout,
            )
        except self._transport_errors as e:
            if self._closed:  # closed under an in-flight request
                raise errors.ClusterClosed(f"{call.subject}: {call.verb} cut by close()") from e
            raise kube_errors.translate(e, call) from e

    @staticmethod
    def _object(obj: Object, res: Resource) -> Object:
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        return obj
