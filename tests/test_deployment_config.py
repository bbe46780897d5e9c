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


SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|KEY", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?])?([^}]*)\}")


def test_compose_has_no_default_secret_and_refuses_to_start_without_one() -> None:
    """A default would be a live credential (a token signed with it, an admin password that logs
    in): every secret is `${VAR:?message}`, and the text names no old default."""
    for name, service in SERVICES.items():
        for variable, value in service.get("environment", {}).items():
            text = str(value)
            for var, form, _ in INTERPOLATION.findall(text):
                if SECRET_NAME.search(var):
                    assert form == ":?", f"{name}: {variable} gives {var} a default ({text})"
            if SECRET_NAME.search(variable):
                assert INTERPOLATION.fullmatch(text), f"{name}: {variable} is written into the file: {text}"
            if "://" in text and "@" in text:  # a URL with credentials: its password comes from the environment
                password = text.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
                assert INTERPOLATION.fullmatch(password), f"{name}: {variable} holds a password: {text}"
    raw = (ROOT / "docker-compose.yml").read_text()
    for old_default in ("change-me-now", "change-me-too"):
        assert old_default not in raw


def test_temporal_frontend_and_ui_are_not_published_on_the_host() -> None:
    """Temporal's frontend has no authorization by default: anyone reaching 7233 can act on tasks."""
    for name in ("temporal", "temporal-ui"):
        assert "ports" not in SERVICES[name], f"{name} is published on the host"
    raw = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"^\s*#\s*-\s*\"127\.0\.0\.1:8233:8080\"", raw, re.MULTILINE), \
        "a commented line shows how to reach the UI from this machine only"
