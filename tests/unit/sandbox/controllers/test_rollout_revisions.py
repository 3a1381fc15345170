"""Unit tests for pod-template-hash, new-ReplicaSet lookup, revisions and history cleanup
in rollout_revisions."""

from __future__ import annotations

import json

from rollout.sandbox.controllers import rollout_revisions as revisions
from rollout.sandbox.controllers import rollout_scaling as scaling

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "web:v1", "ports": [{"containerPort": 80}]}]},
}


def test_pod_template_hash_is_stable_and_shaped_like_upstream() -> None:
    reordered = json.loads(json.dumps(TEMPLATE, sort_keys=True))
    value = revisions.pod_template_hash(TEMPLATE)

    assert value == revisions.pod_template_hash(reordered)
    assert value == "f59746ff4"  # pinned: hash values must not drift between releases
    assert set(value) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_pod_template_hash_ignores_its_own_label_and_follows_changes() -> None:
    labelled = {**TEMPLATE, "metadata": {"labels": {"app": "web", revisions.HASH_LABEL: "x"}}}
    changed = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "web:v2"}]}}

    assert revisions.pod_template_hash(labelled) == revisions.pod_template_hash(TEMPLATE)
    assert revisions.pod_template_hash(changed) != revisions.pod_template_hash(TEMPLATE)
    assert revisions.pod_template_hash(TEMPLATE, 1) != revisions.pod_template_hash(TEMPLATE)


def test_equal_ignore_hash_ignores_hash_label_and_empty_fields() -> None:
    labelled = {**TEMPLATE, "metadata": {"labels": {"app": "web", revisions.HASH_LABEL: "abc"}}}
    with_empty = {**TEMPLATE, "metadata": {"labels": {"app": "web"}, "annotations": {}}}
    other = {**TEMPLATE, "metadata": {"labels": {"app": "api"}}}

    assert revisions.equal_ignore_hash(labelled, TEMPLATE)
    assert revisions.equal_ignore_hash(with_empty, TEMPLATE)
    assert not revisions.equal_ignore_hash(other, TEMPLATE)


def test_find_new_replica_set_picks_the_oldest_matching_template() -> None:
    v2 = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "web:v2"}]}}
    rss = [
        (scaling.RSState("b", 1, created=3.0), TEMPLATE),
        (scaling.RSState("a", 1, created=1.0), TEMPLATE),
        (scaling.RSState("c", 1, created=0.0), v2),
    ]

    assert revisions.find_new_replica_set(TEMPLATE, rss) == rss[1][0]
    assert revisions.find_new_replica_set({"spec": {}}, rss) is None


def test_new_replica_set_gets_max_old_revision_plus_one() -> None:
    olds = [scaling.RSState("a", 0, revision=1), scaling.RSState("b", 0, revision=3)]

    assert revisions.sync_revision(scaling.RSState("new", 0), olds) == revisions.RevisionUpdate(4)
    assert revisions.sync_revision(
        scaling.RSState("new", 0, revision=4), olds
    ) == revisions.RevisionUpdate(4)


def test_rollback_reuses_old_replica_set_with_a_new_max_revision() -> None:
    v2 = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "web:v2"}]}}
    v1_rs = scaling.RSState("web-v1", 0, revision=1, created=0.0)
    v2_rs = scaling.RSState("web-v2", 10, revision=2, created=1.0)

    reused = revisions.find_new_replica_set(TEMPLATE, [(v1_rs, TEMPLATE), (v2_rs, v2)])
    assert reused == v1_rs
    assert revisions.sync_revision(v1_rs, [v2_rs]) == revisions.RevisionUpdate(3, history="1")
    again = scaling.RSState("web-v1", 0, revision=3)
    assert revisions.sync_revision(
        again, [scaling.RSState("web-v2", 0, revision=4)], history="1"
    ) == (revisions.RevisionUpdate(5, history="1,3"))


def test_history_cleanup_deletes_oldest_revisions_without_replicas() -> None:
    olds = [
        scaling.RSState("r3", 0, revision=3),
        scaling.RSState("r1", 0, revision=1),
        scaling.RSState("r2", 2, revision=2, actual=2),
        scaling.RSState("r4", 0, revision=4),
        scaling.RSState("r5", 0, revision=5),
        scaling.RSState("gone", 0, revision=0, deleting=True),
    ]

    assert revisions.replica_sets_to_delete(olds, history_limit=2) == ["r1", "r3"]  # r2 still runs
    assert revisions.replica_sets_to_delete(olds, history_limit=5) == []
    assert revisions.replica_sets_to_delete(olds, history_limit=None) == []
    assert revisions.replica_sets_to_delete(olds, history_limit=0) == ["r1", "r3", "r4", "r5"]
