"""Sandbox config: the shipped example, lookups, durations and one-line validation errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rollout.sandbox import config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sandbox.yaml"
LINK_MANAGER = "ghcr.io/example/link-manager"


def test_example_file_describes_healthy_and_bad_link_manager_versions() -> None:
    cfg = config.SandboxConfig.from_yaml(EXAMPLE)

    for tag in ("v1", "v2"):
        healthy = cfg.behaviour_for(f"{LINK_MANAGER}:{tag}")
        assert healthy.error_rate <= 0.001
        assert healthy.latency.quantile(0.99) == pytest.approx(0.1, rel=0.2)
        assert healthy.startup_delay == 1.0
    bad = cfg.behaviour_for(f"{LINK_MANAGER}:v3")
    assert bad.error_rate == 0.2
    assert {code for code, _ in bad.error_codes} == {500, 503}
    assert bad.latency.quantile(0.99) == pytest.approx(0.6)
    assert cfg.behaviour_for(f"{LINK_MANAGER}:never-ready").never_ready
    assert cfg.behaviour_for(f"{LINK_MANAGER}:crash").crash_loop
    assert cfg.traffic_for("prod", "link-manager").rate == 50
    assert cfg.traffic_for("prod", "anything").rate == 20
    assert cfg.speed == 1.0


def test_image_lookup_prefers_exact_then_glob_then_default() -> None:
    cfg = config.SandboxConfig.from_dict(
        {
            "images": {
                "repo/app:v3": {"error_rate": 0.3},
                "*:v3": {"error_rate": 0.2},
                "repo/app:latest": {"error_rate": 0.4},
                "default": {"error_rate": 0.1},
            }
        }
    )

    assert cfg.behaviour_for("repo/app:v3").error_rate == 0.3
    assert cfg.behaviour_for("registry:5000/other:v3").error_rate == 0.2
    assert cfg.behaviour_for("repo/app:v3@sha256:abc").error_rate == 0.3
    assert cfg.behaviour_for("repo/app").error_rate == 0.4
    assert cfg.behaviour_for("registry:5000/other:v4").error_rate == 0.1
    assert config.SandboxConfig.default().behaviour_for("x:y") == config.ImageBehaviour()


def test_traffic_lookup_prefers_namespaced_then_name_then_default() -> None:
    cfg = config.SandboxConfig.from_dict(
        {"traffic": {"prod/web": 5, "web": {"rate": 7}, "default": {"rate": 1}}}
    )

    assert cfg.traffic_for("prod", "web").rate == 5
    assert cfg.traffic_for("dev", "web").rate == 7
    assert cfg.traffic_for("dev", "api").rate == 1
    assert config.SandboxConfig.default().traffic_for("a", "b") == config.ServiceTraffic()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(2, 2.0), (0.5, 0.5), ("250ms", 0.25), ("2s", 2.0), ("1m", 60.0), ("1m30s", 90.0), ("3", 3.0)],
)
def test_durations_accept_numbers_and_units(text: object, seconds: float) -> None:
    assert config.parse_duration(text, where="d") == pytest.approx(seconds)


def test_speed_divides_sandbox_durations() -> None:
    cfg = config.SandboxConfig.from_dict({"speed": 10})

    assert cfg.scaled(5.0) == pytest.approx(0.5)


def test_header_mix_is_lowercased_and_drawn_by_fraction() -> None:
    cfg = config.SandboxConfig.from_dict(
        {
            "traffic": {
                "web": {"rate": 1, "headers": [{"fraction": 0.25, "set": {"X-Canary": True}}]}
            }
        }
    )
    traffic = cfg.traffic_for("ns", "web")
    rng = random.Random(1)

    draws = [traffic.pick_headers(rng) for _ in range(20_000)]

    assert sum(d == {"x-canary": "true"} for d in draws) / len(draws) == pytest.approx(
        0.25, abs=0.02
    )
    assert all(d in ({}, {"x-canary": "true"}) for d in draws)


def test_one_latency_quantile_keeps_the_default_spread() -> None:
    cfg = config.SandboxConfig.from_dict({"images": {"default": {"latency": {"p50": "40ms"}}}})

    latency = cfg.behaviour_for("x:y").latency

    assert (latency.p50, latency.p99) == pytest.approx((0.04, 0.2))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"speed": 0}, "speed"),
        ({"speed": "fast"}, "speed"),
        ({"sped": 2}, "sped"),
        ({"images": []}, "images"),
        ({"images": {"a:v1": {"error_rate": 1.5}}}, "images[a:v1].error_rate"),
        ({"images": {"a:v1": {"error_rate": True}}}, "images[a:v1].error_rate"),
        ({"images": {"a:v1": {"errors": 0.1}}}, "errors"),
        ({"images": {"a:v1": {"error_codes": {404: 1}}}}, "images[a:v1].error_codes"),
        ({"images": {"a:v1": {"latency": {"p50": "1s", "p99": "10ms"}}}}, "latency.p99"),
        ({"images": {"a:v1": {"latency": {"p50": "quick"}}}}, "images[a:v1].latency.p50"),
        ({"images": {"a:v1": {"startup_delay": "-1s"}}}, "images[a:v1].startup_delay"),
        ({"images": {"a:v1": {"startup_delay": "1 fortnight"}}}, "startup_delay"),
        ({"images": {"a:v1": {"crash_loop": "yes"}}}, "images[a:v1].crash_loop"),
        ({"traffic": {"web": -1}}, "traffic[web]"),
        ({"traffic": {"web": {"rate": "lots"}}}, "traffic[web].rate"),
        (
            {"traffic": {"web": {"headers": [{"fraction": 0.6, "set": {"a": "1"}}] * 2}}},
            "traffic[web].headers",
        ),
        ({"traffic": {"web": {"headers": [{"fraction": 0.1}]}}}, "traffic[web].headers[0].set"),
    ],
)
def test_validation_errors_are_one_line_naming_the_field(data: object, field: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.SandboxConfig.from_dict(data)

    message = str(caught.value)
    assert field in message
    assert "\n" not in message


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(config.ConfigError, match="config: expected a mapping"):
        config.SandboxConfig.from_dict(["speed", 1])


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "sandbox.yaml"
    broken.write_text("images: {a: [\n", encoding="utf-8")

    with pytest.raises(config.ConfigError, match=r"sandbox\.yaml: invalid YAML at line \d+"):
        config.SandboxConfig.from_yaml(broken)
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.SandboxConfig.from_yaml(tmp_path / "missing.yaml")


def test_empty_yaml_file_is_the_default(tmp_path: Path) -> None:
    empty = tmp_path / "sandbox.yaml"
    empty.write_text("# nothing\n", encoding="utf-8")

    assert config.SandboxConfig.from_yaml(empty) == config.SandboxConfig.default()
