"""Loading kubeconfig / in-cluster config into a client Configuration.

A "kube" module (see kube.py): imports kubernetes, inside functions only. Every
problem is a one-line errors.PreconditionError naming the file or context.
"""

from __future__ import annotations

import os
from typing import Any

from rollout import errors

INCLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def load_config(cfg: Any, *, kubeconfig: str | None, context: str | None) -> str | None:
    """Fill `cfg` from kubeconfig (or in-cluster); the context's namespace, if any."""
    import yaml
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigMerger

    if kubeconfig is not None and not os.path.isfile(kubeconfig):
        raise errors.PreconditionError(f"kubeconfig {kubeconfig} not found; check --kubeconfig")
    env = os.environ.get("KUBECONFIG", "")
    default = os.path.expanduser("~/.kube/config")
    have_file = kubeconfig is not None or env or os.path.isfile(default)
    if not have_file and os.environ.get("KUBERNETES_SERVICE_HOST"):
        if context is not None:
            raise errors.PreconditionError(
                f"context {context!r} given but there is no kubeconfig (running in a pod); "
                "check --context/--kubeconfig"
            )
        try:
            config.load_incluster_config(client_configuration=cfg)
            with open(INCLUSTER_NAMESPACE) as f:
                return f.read().strip() or None
        except (ConfigException, OSError) as e:
            raise errors.PreconditionError(f"in-cluster config unusable ({e})") from e
    if not have_file:
        raise errors.PreconditionError(
            f"no kubeconfig: {default} does not exist and KUBECONFIG is unset; pass --kubeconfig"
        )
    where = kubeconfig or env or default
    try:
        merged = KubeConfigMerger(where).config  # KUBECONFIG may list several files
        doc = merged.value if merged is not None else None
        if not isinstance(doc, dict):
            raise errors.PreconditionError(f"kubeconfig {where} is not a kubeconfig file")
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
        config.load_kube_config(
            config_file=where, context=name, client_configuration=cfg, persist_config=False
        )
    except (ConfigException, yaml.YAMLError, OSError, ValueError, KeyError, TypeError) as e:
        raise errors.PreconditionError(
            f"kubeconfig {where} unusable ({' '.join(str(e).split())}); "
            "check --kubeconfig/--context"
        ) from e
    namespace = (chosen.get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


def rollout_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rollout")
    except PackageNotFoundError:
        return "0+unknown"
