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
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        chosen = (
            active
            if context is None
            else next((c for c in contexts if c.get("name") == context), None)
        )
        if chosen is None:
            names = ", ".join(sorted(str(c.get("name")) for c in contexts)) or "none"
            raise errors.PreconditionError(
                f"kubeconfig {where}: context {context!r} not found (contexts: {names}); "
                "check --context"
            )
        config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False
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
