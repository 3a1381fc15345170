"""Defaulting and validation of the rbac.authorization.k8s.io/v1 kinds, as upstream's
pkg/apis/rbac (v1 defaults, validation) words them.

The sandbox stores these kinds and authorizes nothing: this module only refuses what a
real server refuses on write. Pure functions over JSON dicts (typed by `shapes` first).
"""

from __future__ import annotations

from typing import Any

from rollout.sandbox.kinds import RBAC, Kind
from rollout.sandbox.store import field_rules

Obj = dict[str, Any]
Cause = tuple[str, str]
ROLES = {f"roles.{RBAC}", f"clusterroles.{RBAC}"}
BINDINGS = {f"rolebindings.{RBAC}", f"clusterrolebindings.{RBAC}"}
KEYS = ROLES | BINDINGS
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def name_errors(name: str) -> list[str]:
    """path.IsValidPathSegmentName: RBAC names may hold ':' (system:discovery), not '/'."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def apply_defaults(kind: Kind, obj: Obj) -> None:
    """SetDefaults_RoleBinding/_ClusterRoleBinding/_Subject, in place: the rbac group
    for roleRef and for User/Group subjects."""
    if kind.key not in BINDINGS:
        return
    ref = obj.setdefault("roleRef", {})  # Go's zero value: defaulted, then invalid
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC
    for subject in _dicts(obj.get("subjects")):
        if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC


def causes(kind: Kind, obj: Obj, old: Obj | None) -> list[Cause]:
    """ValidateRole/ClusterRole (each rule) and ValidateRoleBinding/ClusterRoleBinding
    (roleRef, subjects; roleRef immutable on update)."""
    namespaced = kind.namespaced
    if kind.key in ROLES:
        return [c for i, r in enumerate(_dicts(obj.get("rules"))) for c in _rule(r, i, namespaced)]
    if kind.key not in BINDINGS:
        return []
    found = obj.get("roleRef")
    ref: Obj = found if isinstance(found, dict) else {}
    out = _role_ref(ref, ["Role", "ClusterRole"] if namespaced else ["ClusterRole"])
    for i, subject in enumerate(_dicts(obj.get("subjects"))):
        out += _subject(subject, f"subjects[{i}]", namespaced)
    old_ref = (old or {}).get("roleRef")
    if old is not None and old_ref != ref:
        fields = (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name"))
        shown = ", ".join(f'{go}:"{ref.get(key, "")}"' for go, key in fields)
        out.append(("roleRef", f"Invalid value: rbac.RoleRef{{{shown}}}: cannot change roleRef"))
    return out


def _rule(rule: Obj, index: int, namespaced: bool) -> list[Cause]:
    path = f"rules[{index}]"
    out: list[Cause] = []
    if not rule.get("verbs"):
        out.append((f"{path}.verbs", "Required value: verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs")
    if urls:
        shown = "[]string{" + ", ".join(f'"{u}"' for u in urls) + "}"
        if namespaced:
            out.append(
                (
                    f"{path}.nonResourceURLs",
                    f"Invalid value: {shown}: namespaced rules cannot apply to non-resource URLs",
                )
            )
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            out.append(
                (
                    f"{path}.nonResourceURLs",
                    f"Invalid value: {shown}: rules cannot apply to both regular resources "
                    "and non-resource URLs",
                )
            )
        return out
    if not rule.get("apiGroups"):
        out.append(
            (
                f"{path}.apiGroups",
                "Required value: resource rules must supply at least one api group",
            )
        )
    if not rule.get("resources"):
        out.append(
            (
                f"{path}.resources",
                "Required value: resource rules must supply at least one resource",
            )
        )
    return out


def _role_ref(ref: Obj, kinds: list[str]) -> list[Cause]:
    out: list[Cause] = []
    if ref.get("apiGroup", "") != RBAC:
        out.append(("roleRef.apiGroup", _unsupported(ref.get("apiGroup", ""), [RBAC])))
    if ref.get("kind", "") not in kinds:
        out.append(("roleRef.kind", _unsupported(ref.get("kind", ""), kinds)))
    name = ref.get("name", "")
    if not name:
        out.append(("roleRef.name", "Required value"))
    out += [("roleRef.name", f'Invalid value: "{name}": {m}') for m in name_errors(name)]
    return out


def _subject(subject: Obj, path: str, namespaced: bool) -> list[Cause]:
    """ValidateRoleBindingSubject."""
    name, kind, group = (
        subject.get("name", ""),
        subject.get("kind", ""),
        subject.get("apiGroup", ""),
    )
    out: list[Cause] = [] if name else [(f"{path}.name", "Required value")]
    if kind == "ServiceAccount":
        if name and (len(name) > 253 or not field_rules.DNS_SUBDOMAIN.match(name)):
            out.append(
                (
                    f"{path}.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                    "lower case alphanumeric characters, '-' or '.'",
                )
            )
        if group:
            out.append((f"{path}.apiGroup", _unsupported(group, [""])))
        if not namespaced and not subject.get("namespace"):
            out.append((f"{path}.namespace", "Required value"))
    elif kind in ("User", "Group"):
        if group != RBAC:
            out.append((f"{path}.apiGroup", _unsupported(group, [RBAC])))
    else:
        out.append((f"{path}.kind", _unsupported(kind, list(SUBJECT_KINDS))))
    return out


def _unsupported(value: str, supported: list[str]) -> str:
    return f'Unsupported value: "{value}": supported values: ' + ", ".join(
        f'"{s}"' for s in supported
    )


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
