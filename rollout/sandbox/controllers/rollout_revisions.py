"""ReplicaSet identity and history of the upstream Deployment controller: the
pod-template-hash, finding the new ReplicaSet, revision numbers and history cleanup.

Mirrors pkg/controller/deployment (sync.go's getNewReplicaSet / cleanupDeployment) and
util/deployment_util.go / util/hash. Pure: no I/O, never touches the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rollout.sandbox.controllers.rollout_scaling import MAX_INT32, RSState, by_creation

HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_REVISION_HISTORY_MAX_CHARS = 2000

PodTemplate = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class RevisionUpdate:
    """Revision (and revision-history annotation, None: unchanged) for the new RS."""

    revision: int
    history: str | None = None


def pod_template_hash(template: PodTemplate, collision_count: int | None = None) -> str:
    """A stable pod-template-hash label value, shaped like upstream ComputeHash's.

    FNV-32a over canonical JSON of the template (without its hash label), plus the
    collision count like upstream, encoded as SafeEncodeString(decimal) (<= 10 chars).
    """
    data = json.dumps(_normalized(template, strip_hash=True), sort_keys=True, separators=(",", ":"))
    digest = _fnv32a(data.encode())
    if collision_count is not None:
        digest = _fnv32a((collision_count & 0xFFFFFFFF).to_bytes(8, "little"), digest)
    return "".join(_HASH_ALPHABET[byte % len(_HASH_ALPHABET)] for byte in str(digest).encode())


def equal_ignore_hash(left: PodTemplate, right: PodTemplate) -> bool:
    """Upstream EqualIgnoreHash: equal templates apart from the pod-template-hash label.

    Like apimachinery's semantic equality, nil and empty maps/lists compare equal.
    """
    return _normalized(left, strip_hash=True) == _normalized(right, strip_hash=True)


def find_new_replica_set(
    template: PodTemplate, replica_sets: Sequence[tuple[RSState, PodTemplate]]
) -> RSState | None:
    """Upstream FindNewReplicaSet: the oldest ReplicaSet whose template equals `template`."""
    for rs, rs_template in sorted(replica_sets, key=lambda pair: by_creation(pair[0])):
        if equal_ignore_hash(rs_template, template):
            return rs
    return None


def sync_revision(new: RSState, olds: Sequence[RSState], *, history: str = "") -> RevisionUpdate:
    """Upstream revision rule: the new RS gets max(old revisions)+1 unless already higher.

    Reusing an old ReplicaSet (rollback) bumps it to a new max revision and appends its
    former revision to the revision-history annotation (`history`, comma-separated).
    """
    target = max((rs.revision for rs in olds), default=0) + 1
    if new.revision >= target:
        return RevisionUpdate(new.revision)
    if new.revision == 0:
        return RevisionUpdate(target)
    return RevisionUpdate(target, _append_history(history, str(new.revision)))


def _append_history(history: str, revision: str) -> str | None:
    """Append to revision-history, dropping the oldest entries past 2000 characters."""
    if not history:
        return revision
    entries = history.split(",")
    total = len(history) + len(revision) + 1
    start = 0
    while total > _REVISION_HISTORY_MAX_CHARS and start < len(entries):
        total -= len(entries[start]) + 1
        start += 1
    if total > _REVISION_HISTORY_MAX_CHARS:
        return None
    return ",".join([*entries[start:], revision])


def replica_sets_to_delete(olds: Sequence[RSState], *, history_limit: int | None) -> list[str]:
    """Upstream cleanupDeployment: old ReplicaSets beyond revisionHistoryLimit to delete.

    Looks at the `len - limit` lowest revisions (oldest first) and deletes only those
    with no replicas in spec and status; `None` (or MaxInt32) keeps everything.
    """
    if history_limit is None or history_limit == MAX_INT32:
        return []
    alive = [rs for rs in olds if not rs.deleting]
    excess = len(alive) - history_limit
    if excess <= 0:
        return []
    oldest_first = sorted(alive, key=lambda rs: (rs.revision, *by_creation(rs)))
    return [rs.name for rs in oldest_first[:excess] if rs.replicas == 0 and rs.actual == 0]


def _normalized(value: object, *, strip_hash: bool = False) -> object:
    """Drop None and empty maps/lists (and the hash label when asked), recursively."""
    if isinstance(value, Mapping):
        result: dict[str, object] = {}
        for key, item in value.items():
            if strip_hash and key == "labels" and isinstance(item, Mapping):
                item = {k: v for k, v in item.items() if k != HASH_LABEL}
            cleaned = _normalized(item, strip_hash=strip_hash and key == "metadata")
            if cleaned not in (None, {}, []):
                result[str(key)] = cleaned
        return result
    if isinstance(value, list | tuple):
        return [_normalized(item) for item in value]
    return value


def _fnv32a(data: bytes, seed: int = 0x811C9DC5) -> int:
    digest = seed
    for byte in data:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return digest
