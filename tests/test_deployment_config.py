"""docker-compose.yml cannot run here (no Docker engine): check it agrees with the code instead."""

import re
from pathlib import Path

import yaml

from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_runs_the_api_and_workers_from_the_projects_entry_points() -> None:
    assert SERVICES["api"]["command"] == ["python", "server.py"]
    assert SERVICES["worker"]["command"] == ["python", "worker.py"]
    for entry in ("server.py", "worker.py"):
        assert (ROOT / entry).is_file()


def test_every_nq57_setting_in_compose_is_a_setting_the_code_reads() -> None:
    known = {f"NQ57_{name.upper()}" for name in Settings.model_fields}
    for name, service in SERVICES.items():
        for variable in service.get("environment", {}):
            if variable.startswith("NQ57_"):
                assert variable in known, f"{name}: {variable} is not a field of settings.Settings"


def compose_default(value: object) -> str:
    """What Compose puts for `${VAR:-default}` when VAR is unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def test_api_in_compose_uses_postgresql_and_the_temporal_cluster_not_the_embedded_server() -> None:
    env = SERVICES["api"]["environment"]
    settings = Settings(**{key.removeprefix("NQ57_").lower(): compose_default(value) for key, value in env.items()})
    assert settings.async_database_url.startswith("postgresql+asyncpg://")
    host = settings.temporal_address.split(":")[0]
    assert host in SERVICES, "NQ57_TEMPORAL_ADDRESS must name a compose service"
    assert settings.run_worker is False, "workers run as their own service"
    assert f"{settings.port}:{settings.port}" in SERVICES["api"]["ports"]


def test_database_url_in_compose_matches_the_postgresql_service() -> None:
    db = SERVICES["postgresql"]["environment"]
    url = SERVICES["api"]["environment"]["NQ57_DATABASE_URL"]
    assert url == f"postgresql://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@postgresql:5432/{db['POSTGRES_DB']}"


def test_dockerfile_copies_every_package_the_project_installs() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in project["tool"]["setuptools"]["packages"]:
        top = package.split(".")[0]
        assert f"COPY {top} {top}" in dockerfile, f"Dockerfile does not copy {top}/"
    for module in project["tool"]["setuptools"]["py-modules"]:
        assert f"{module}.py" in dockerfile
