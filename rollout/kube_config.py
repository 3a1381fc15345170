"""Loading kubeconfig / in-cluster config into a client Configuration, as kubectl does.

Where the config comes from: `--kubeconfig` (exactly that one file), else every file in
KUBECONFIG (os.pathsep-separated, merged: the first file to set an entry or the
current-context wins, missing files are skipped), else ~/.kube/config, else the pod's
service account (in-cluster). A "kube" module (see kube.py): imports kubernetes inside
functions only. Every problem is a one-line errors.PreconditionError naming the file
or context.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rollout import errors

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where a pod's service account token, CA bundle and namespace are mounted."""


def load_config(
    cfg: Any,
    *,
    kubeconfig: str | None,
    context: str | None,
    environ: Mapping[str, str] | None = None,
    service_account: str = SERVICE_ACCOUNT,
) -> str | None:
    """Fill `cfg` from kubeconfig (or in-cluster); the context's namespace, if any.

    `environ` (default os.environ) supplies KUBECONFIG, HOME and KUBERNETES_SERVICE_*.
    """
    env = os.environ if environ is None else environ
    if kubeconfig is not None:
        if not os.path.isfile(kubeconfig):
            raise errors.PreconditionError(f"kubeconfig {kubeconfig} not found; check --kubeconfig")
        return _load_files(cfg, [kubeconfig], kubeconfig, context)
    listed = env.get("KUBECONFIG", "")
    if listed:
        paths = [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
        existing = [p for p in paths if os.path.isfile(p)]
        if not existing:
            raise errors.PreconditionError(
                f"kubeconfig: no file of KUBECONFIG={listed} exists; check KUBECONFIG or "
                "pass --kubeconfig"
            )
        return _load_files(cfg, existing, listed, context)
    default = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".kube", "config")
    if os.path.isfile(default):
        return _load_files(cfg, [default], default, context)
    if env.get("KUBERNETES_SERVICE_HOST"):
        return _load_in_cluster(cfg, context, env, service_account)
    raise errors.PreconditionError(
        f"no kubeconfig: {default} does not exist and KUBECONFIG is unset; pass --kubeconfig"
    )


def _load_files(cfg: Any, paths: list[str], where: str, context: str | None) -> str | None:
    """Merge `paths` like kubectl, choose the context, fill `cfg`; its namespace."""
    import yaml
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

    try:
        merger = KubeConfigMerger("")  # no paths: files are added one by one below
        for path in paths:  # (its own path parsing would split a single file at ':')
            merger.load_config(path)
        doc = merger.config.value if merger.config is not None else None
        if not isinstance(doc, dict):
            raise errors.PreconditionError(f"kubeconfig {where} is not a kubeconfig file")
        # kubectl: the first file that sets current-context wins (the merger keeps the last)
        firsts = [merger.config_files[p].get("current-context") for p in paths]
        doc["current-context"] = next((c for c in firsts if c), None)
        entries = [getattr(c, "value", c) for c in doc.get("contexts") or []]  # ConfigNodes
        contexts = [c for c in entries if isinstance(c, dict)]
        names = ", ".join(sorted(str(c.get("name")) for c in contexts)) or "none"
        name = context or doc.get("current-context")
        chosen = next((c for c in contexts if c.get("name") == name), None)
        if chosen is None:
            what = f"has no context {name!r}" if name else "has no current-context"
            raise errors.PreconditionError(
                f"kubeconfig {where} {what} (contexts: {names}); check --context"
            )
        loader = KubeConfigLoader(
            config_dict=merger.config, active_context=name, config_base_path=None
        )
        loader.load_and_set(cfg)
    except (ConfigException, yaml.YAMLError, OSError, ValueError, KeyError, TypeError) as e:
        raise errors.PreconditionError(
            f"kubeconfig {where} unusable ({' '.join(str(e).split())}); "
            "check --kubeconfig/--context"
        ) from e
    namespace = (chosen.get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


def _load_in_cluster(
    cfg: Any, context: str | None, env: Mapping[str, str], service_account: str
) -> str | None:
    """The pod's service account: API host from KUBERNETES_SERVICE_*, its token and CA;
    the namespace the pod runs in."""
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    if context is not None:
        raise errors.PreconditionError(
            f"context {context!r} given but there is no kubeconfig (running in a pod); "
            "check --context/--kubeconfig"
        )
    try:
        InClusterConfigLoader(
            token_filename=os.path.join(service_account, "token"),
            cert_filename=os.path.join(service_account, "ca.crt"),
            environ=env,
        ).load_and_set(cfg)
        with open(os.path.join(service_account, "namespace")) as f:
            return f.read().strip() or None
    except (ConfigException, OSError) as e:
        raise errors.PreconditionError(
            f"in-cluster config unusable ({e}); check the pod's service account or pass "
            "--kubeconfig"
        ) from e


def rollout_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rollout")
    except PackageNotFoundError:
        return "0+unknown"
