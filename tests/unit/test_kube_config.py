"""kube_config: where the client configuration comes from, read from files only.

KUBECONFIG lists merged like kubectl, `--kubeconfig` meaning one file, and a pod's
service account (in-cluster). The environment is passed in (`environ=`) and the service
account is a temporary directory: no sockets, nothing monkeypatched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from rollout import errors, kube_config


def write(path: Path, **doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **doc}))
    return path


def cluster(name: str, server: str, **more: str) -> dict[str, Any]:
    return {"name": name, "cluster": {"server": server, **more}}


def user(name: str, token: str) -> dict[str, Any]:
    return {"name": name, "user": {"token": token}}


def context(name: str, cluster: str, user: str, namespace: str | None = None) -> dict[str, Any]:
    body = {"cluster": cluster, "user": user, **({"namespace": namespace} if namespace else {})}
    return {"name": name, "context": body}


def load(
    environ: dict[str, str], *, kubeconfig: str | None = None, context: str | None = None
) -> tuple[client.Configuration, str | None]:
    cfg = client.Configuration()
    namespace = kube_config.load_config(
        cfg, kubeconfig=kubeconfig, context=context, environ=environ
    )
    return cfg, namespace


def bearer(cfg: client.Configuration) -> str:
    """The Authorization header value the client would send."""
    return str(cfg.auth_settings()["BearerToken"]["value"])


@pytest.fixture
def split(tmp_path: Path) -> tuple[Path, Path]:
    """Context `one` in the first file; its cluster and user only in the second, which
    also sets its own current-context and a same-named context pointing elsewhere."""
    first = write(
        tmp_path / "a" / "config",
        **{"current-context": "one"},
        contexts=[context("one", "box", "me", "shop")],
        users=[user("me", "first-token")],
    )
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "ca.crt").write_text("not checked when loading\n")
    second = write(
        tmp_path / "b" / "config",
        **{"current-context": "two"},
        clusters=[
            cluster("box", "https://box.example:6443", **{"certificate-authority": "ca.crt"}),
            cluster("other", "https://other.example:6443"),
        ],
        users=[user("me", "second-token"), user("you", "your-token")],
        contexts=[context("two", "other", "you"), context("one", "other", "you", "elsewhere")],
    )
    return first, second


def test_kubeconfig_list_merges_first_file_wins(split: tuple[Path, Path], tmp_path: Path) -> None:
    first, second = split
    listed = os.pathsep.join([str(tmp_path / "missing"), str(first), "", str(second)])

    cfg, namespace = load({"KUBECONFIG": listed, "HOME": str(tmp_path)})

    assert cfg.host == "https://box.example:6443"  # context `one` of the first file
    assert namespace == "shop"
    assert bearer(cfg) == "Bearer first-token"  # user `me`: the first file's entry
    assert cfg.ssl_ca_cert == str(tmp_path / "b" / "ca.crt")  # relative to its own file


def test_context_flag_picks_any_context_of_the_merged_files(
    split: tuple[Path, Path], tmp_path: Path
) -> None:
    listed = os.pathsep.join(map(str, split))

    cfg, namespace = load({"KUBECONFIG": listed}, context="two")

    assert (cfg.host, namespace, bearer(cfg)) == (
        "https://other.example:6443",
        None,
        "Bearer your-token",
    )


def test_kubeconfig_flag_means_that_one_file_even_with_kubeconfig_set(
    split: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = split
    env = {"KUBECONFIG": str(first)}

    cfg, _ = load(env, kubeconfig=str(second))
    assert cfg.host == "https://other.example:6443"  # the second file's own current-context

    with pytest.raises(errors.PreconditionError) as info:
        load(env, kubeconfig=str(first))  # `box` is defined only in the second file
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"kubeconfig {first} unusable (")


def test_kubeconfig_list_without_any_existing_file_names_it(tmp_path: Path) -> None:
    listed = os.pathsep.join([str(tmp_path / "x"), str(tmp_path / "y")])
    with pytest.raises(errors.PreconditionError) as info:
        load({"KUBECONFIG": listed, "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert str(info.value) == (
        f"kubeconfig: no file of KUBECONFIG={listed} exists; check KUBECONFIG or pass --kubeconfig"
    )


def test_unknown_context_in_a_merged_list_names_every_context(
    split: tuple[Path, Path],
) -> None:
    listed = os.pathsep.join(map(str, split))
    with pytest.raises(errors.PreconditionError) as info:
        load({"KUBECONFIG": listed}, context="prod")
    assert str(info.value) == (
        f"kubeconfig {listed} has no context 'prod' (contexts: one, two); check --context"
    )


# -- in-cluster ------------------------------------------------------------------


@pytest.fixture
def service_account(tmp_path: Path) -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text("pod-token")
    (folder / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (folder / "namespace").write_text("shop\n")
    return folder


def in_cluster(folder: Path, home: Path, **env: str) -> tuple[client.Configuration, str | None]:
    cfg = client.Configuration()
    environ = {
        "HOME": str(home),  # no ~/.kube/config there
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        **env,
    }
    namespace = kube_config.load_config(
        cfg, kubeconfig=None, context=None, environ=environ, service_account=str(folder)
    )
    return cfg, namespace


def test_in_cluster_uses_the_service_account_and_its_namespace(
    service_account: Path, tmp_path: Path
) -> None:
    cfg, namespace = in_cluster(service_account, tmp_path)

    assert cfg.host == "https://10.96.0.1:443"
    assert bearer(cfg) == "bearer pod-token"
    assert cfg.ssl_ca_cert == str(service_account / "ca.crt")
    assert namespace == "shop"


def test_a_kubeconfig_in_home_wins_over_in_cluster(
    service_account: Path, split: tuple[Path, Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(split[1].read_text())

    cfg, _ = in_cluster(service_account, home)

    assert cfg.host == "https://other.example:6443"


def test_in_cluster_without_a_token_is_a_precondition_error(
    service_account: Path, tmp_path: Path
) -> None:
    (service_account / "token").unlink()
    with pytest.raises(errors.PreconditionError) as info:
        in_cluster(service_account, tmp_path)
    assert str(info.value) == (
        "in-cluster config unusable (Service token file does not exist.); "
        "check the pod's service account or pass --kubeconfig"
    )


def test_in_cluster_refuses_a_context(service_account: Path, tmp_path: Path) -> None:
    cfg = client.Configuration()
    environ = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "10.96.0.1"}
    with pytest.raises(errors.PreconditionError, match="context 'prod' given but there is no"):
        kube_config.load_config(
            cfg, kubeconfig=None, context="prod", environ=environ, service_account="/nonexistent"
        )
