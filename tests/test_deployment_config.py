"""docker-compose.yml cannot run here (no Docker engine): check it agrees with the code instead, and
so do the files it mounts from deploy/ (the proxy, Prometheus, Grafana) and the Dockerfile."""

import ipaddress
import json
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from services.blobs import MAX_FILES
from services.metrics import API_SERIES, WORKER_SERIES
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
DEPLOY = ROOT / "deploy"
PROMETHEUS = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
DASHBOARD = json.loads((DEPLOY / "grafana" / "dashboards" / "nq57.json").read_text())
DATASOURCES = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
DASHBOARD_PROVIDERS = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "nq57.yml").read_text())
NGINX = re.sub(r"#[^\n]*", "", (DEPLOY / "nginx" / "nq57.conf").read_text())  # directives only
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()

# The Temporal SDK's own series the dashboard reads beside services.metrics' (the worker exports them at
# NQ57_WORKER_METRICS_PORT; names as the Python SDK's Prometheus exporter writes them, durations in seconds).
SDK_SERIES = {
    "temporal_workflow_task_schedule_to_start_latency",  # histogram: how long workflow tasks wait for a worker
    "temporal_worker_task_slots_available",  # gauge: worker_type
    "temporal_request_failure_total",  # counter: operation
}
# Histograms: a query reads them as <name>_bucket, _sum and _count.
HISTOGRAMS = {"nq57_http_request_duration_seconds", "temporal_activity_execution_latency",
              "temporal_local_activity_execution_latency",
              "temporal_workflow_task_schedule_to_start_latency"}


def compose_default(value: object) -> str:
    """What Compose puts for `${VAR:-default}` when VAR is unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def settings_of(service: str) -> Settings:
    """The settings the service runs with, as far as the compose file says (secrets left as written)."""
    env = SERVICES[service].get("environment", {})
    return Settings(**{key.removeprefix("NQ57_").lower(): compose_default(value)
                       for key, value in env.items() if key.startswith("NQ57_")})


def healthcheck_url(service: str) -> str:
    test = SERVICES[service]["healthcheck"]["test"]
    found = re.search(r"https?://[^'\"\s]+", " ".join(test) if isinstance(test, list) else test)
    assert found, f"{service}: its health check asks no URL: {test}"
    return found.group(0)


def scrape_job(service: str) -> dict[str, Any]:
    """The Prometheus job that finds the replicas of a compose service."""
    jobs = [job for job in PROMETHEUS["scrape_configs"]
            if any(service in sd.get("names", []) for sd in job.get("dns_sd_configs", []))]
    assert len(jobs) == 1, f"deploy/prometheus/prometheus.yml: one job should find the `{service}` service"
    return jobs[0]


def published(service: str) -> list[str]:
    return [str(port) for port in SERVICES[service].get("ports", [])]


def nginx_directive(name: str) -> list[str]:
    return [value.strip() for value in re.findall(rf"^\s*{name}\s+([^;]*);", NGINX, re.MULTILINE)]


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


def test_every_nq57_setting_in_a_commented_example_is_a_setting_the_code_reads() -> None:
    """The commented examples (Temporal Cloud, S3) are what an operator uncomments."""
    known = {f"NQ57_{name.upper()}" for name in Settings.model_fields}
    for variable in re.findall(r"^\s*#\s*(NQ57_[A-Z0-9_]+):", COMPOSE_TEXT, re.MULTILINE):
        assert variable in known, f"docker-compose.yml: the commented {variable} is not a field of settings.Settings"


def test_api_in_compose_uses_postgresql_and_the_temporal_cluster_not_the_embedded_server() -> None:
    settings = settings_of("api")
    assert settings.async_database_url.startswith("postgresql+asyncpg://")
    host = settings.temporal_address.split(":")[0]
    assert host in SERVICES, "NQ57_TEMPORAL_ADDRESS must name a compose service"
    assert settings.run_worker is False, "workers run as their own service"
    assert f"{settings.port}:{settings.port}" in published("proxy"), "the proxy publishes the API's port"


def test_api_and_workers_run_as_several_replicas_with_json_logs() -> None:
    for name in ("api", "worker"):
        assert SERVICES[name].get("deploy", {}).get("replicas", 1) >= 2, f"{name}: deploy.replicas below 2"
        assert settings_of(name).log_format == "json", f"{name}: NQ57_LOG_FORMAT is not json"
    assert settings_of("api").api_processes >= 2, "the api runs several uvicorn processes (NQ57_API_PROCESSES)"
    assert settings_of("worker").run_worker is False and settings_of("worker").temporal_address


def test_database_url_in_compose_matches_the_postgresql_service() -> None:
    db = SERVICES["postgresql"]["environment"]
    for name in ("api", "worker"):
        url = SERVICES[name]["environment"]["NQ57_DATABASE_URL"]
        assert url == f"postgresql://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@postgresql:5432/{db['POSTGRES_DB']}"


def test_api_and_workers_wait_for_a_healthy_database_and_temporal() -> None:
    for name in ("api", "worker"):
        depends = SERVICES[name]["depends_on"]
        for needed in ("postgresql", "temporal"):
            assert depends.get(needed, {}).get("condition") == "service_healthy", \
                f"{name} should wait until {needed} is healthy"


def test_every_depends_on_names_a_service_and_every_volume_and_network_is_declared() -> None:
    volumes, networks = set(COMPOSE.get("volumes") or {}), set(COMPOSE.get("networks") or {})
    for name, service in SERVICES.items():
        for needed in service.get("depends_on", []):
            assert needed in SERVICES, f"{name} depends on {needed}, which is no service"
        for mount in service.get("volumes", []):
            source = str(mount).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name} mounts the volume {source}, not declared under `volumes:`"
        for network in service.get("networks", []):
            assert network in networks, f"{name} joins the network {network}, not declared under `networks:`"


def test_every_deploy_file_mounted_in_compose_is_in_the_repository() -> None:
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            source = str(mount).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


def test_api_and_workers_share_the_evidence_volume_at_the_data_dir_and_s3_is_shown() -> None:
    for name in ("api", "worker"):
        data_dir = str(settings_of(name).data_dir)
        assert f"nq57data:{data_dir}" in SERVICES[name]["volumes"], f"{name}: nq57data is not at NQ57_DATA_DIR"
    assert re.search(r"^\s*#\s*NQ57_BLOB_STORE:\s*s3://", COMPOSE_TEXT, re.MULTILINE), \
        "a commented example shows evidence files in S3"


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in SERVICES.items():
        if "image" not in service:
            assert "build" in service, f"{name} has neither an image nor a build"
            continue
        image = str(service["image"])
        if "@sha256:" in image:
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable") and check["test"] != ["NONE"], \
            f"{name} has no health check"


def test_the_api_health_check_asks_a_route_the_app_has_on_the_api_port(tmp_path: Path) -> None:
    from starlette.routing import Match

    from api.app import create_app

    url = urlsplit(healthcheck_url("api"))
    assert url.port == settings_of("api").port, "the api's health check asks another port than NQ57_PORT"
    app = create_app(Settings(data_dir=tmp_path))
    scope = {"type": "http", "method": "GET", "path": url.path, "root_path": "", "headers": []}
    assert any(route.matches(scope)[0] == Match.FULL for route in app.routes), f"the API has no route {url.path}"


def test_the_worker_health_check_and_prometheus_use_the_worker_metrics_port() -> None:
    port = settings_of("worker").worker_metrics_port
    assert port, "NQ57_WORKER_METRICS_PORT is 0 in compose: the worker would answer no /metrics"
    url = urlsplit(healthcheck_url("worker"))
    assert (url.port, url.path) == (port, "/metrics")
    job = scrape_job("worker")
    assert [sd["port"] for sd in job["dns_sd_configs"]] == [port]
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_prometheus_scrapes_the_api_on_its_port() -> None:
    job = scrape_job("api")
    assert [sd["port"] for sd in job["dns_sd_configs"]] == [settings_of("api").port]
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_prometheus_scrapes_a_path_the_api_serves(tmp_path: Path) -> None:
    from starlette.routing import Match

    from api.app import create_app

    path = scrape_job("api").get("metrics_path", "/metrics")
    app = create_app(Settings(data_dir=tmp_path))
    scopes = [{"type": "http", "method": "GET", "path": p, "root_path": "", "headers": []} for p in (path, path + "/")]
    assert any(route.matches(scope)[0] == Match.FULL for route in app.routes for scope in scopes), \
        f"the API serves nothing at {path}"


def test_prometheus_finds_every_replica_of_compose_services_through_dns() -> None:
    for job in PROMETHEUS["scrape_configs"]:
        assert "static_configs" not in job or all(
            target.split(":")[0] in SERVICES for static in job["static_configs"] for target in static["targets"]), \
            f"{job['job_name']}: a static target is no compose service"
        for sd in job.get("dns_sd_configs", []):
            assert sd.get("type") == "A", f"{job['job_name']}: type A finds one target per container"
            for name in sd["names"]:
                assert name in SERVICES, f"{job['job_name']}: {name} is no compose service"


def dashboard_expressions() -> list[str]:
    panels = [p for top in DASHBOARD["panels"] for p in [top, *top.get("panels", [])]]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_the_dashboard_reads_only_series_the_code_exposes() -> None:
    known = set(API_SERIES) | set(WORKER_SERIES) | SDK_SERIES
    expressions = dashboard_expressions()
    assert expressions, "the dashboard has no query"
    for expr in expressions:
        for name in re.findall(r"\b((?:nq57|temporal)_[a-z0-9_]+)", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in known or (base in HISTOGRAMS and base in known), \
                f"the dashboard reads {name}, which neither services.metrics nor the SDK list names: {expr}"


def test_the_dashboard_shows_every_series_the_code_exposes() -> None:
    text = "\n".join(dashboard_expressions())
    for name in (*API_SERIES, *WORKER_SERIES):
        assert re.search(rf"\b{name}(_bucket|_sum|_count)?\b", text), f"no panel of the dashboard reads {name}"


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    uids = {source["uid"] for source in DATASOURCES["datasources"]}
    for panel in DASHBOARD["panels"]:
        if panel["type"] == "row":
            continue
        for holder in (panel, *panel["targets"]):
            assert holder["datasource"]["uid"] in uids, f"panel {panel['title']!r} names another datasource"


def test_grafana_datasource_points_at_the_prometheus_service_and_its_port() -> None:
    (source,) = DATASOURCES["datasources"]
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus" and "prometheus" in SERVICES
    assert url.port == urlsplit(healthcheck_url("prometheus")).port, "Grafana asks another port than Prometheus's"


def test_grafana_loads_the_dashboards_from_where_compose_mounts_them() -> None:
    mounts = dict(str(mount).split(":")[:2] for mount in SERVICES["grafana"]["volumes"])
    assert mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning"
    (provider,) = DASHBOARD_PROVIDERS["providers"]
    source = next(host for host, inside in mounts.items() if inside == provider["options"]["path"])
    assert (ROOT / source / "nq57.json").is_file()


def test_only_the_proxy_is_published_and_the_rest_at_most_on_loopback() -> None:
    """Temporal's frontend has no authorization by default, Prometheus and the API's /metrics no login;
    the API is reached through the proxy."""
    for name in ("api", "worker", "temporal", "temporal-ui", "postgresql", "prometheus"):
        assert not published(name), f"{name} is published on the host"
    for name in SERVICES:
        if name != "proxy":
            for port in published(name):
                assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"
    for name in ("api", "worker"):
        assert str(settings_of(name).temporal_port) not in " ".join(published(name))


def test_the_proxy_is_trusted_and_only_it_shares_its_network_with_the_api() -> None:
    settings = settings_of("api")  # Settings refuses a value that does not parse
    trusted = settings.trusted_proxy_networks
    assert trusted, "NQ57_TRUSTED_PROXIES is empty: the API would count every client as the proxy"
    for network in SERVICES["proxy"]["networks"]:
        subnets = [ipaddress.ip_network(pool["subnet"]) for pool in COMPOSE["networks"][network]["ipam"]["config"]]
        assert subnets, f"the network {network} has no fixed subnet"
        for subnet in subnets:
            assert any(subnet.subnet_of(net) for net in trusted if net.version == subnet.version), \
                f"NQ57_TRUSTED_PROXIES does not hold the proxy's network {subnet}"
    for net in trusted:  # anyone on a trusted network could write X-Forwarded-For
        for name, service in SERVICES.items():
            on = [n for n in service.get("networks", ["default"])
                  if any(ipaddress.ip_network(pool["subnet"]).overlaps(net)
                         for pool in ((COMPOSE["networks"].get(n) or {}).get("ipam", {}).get("config", [])))]
            assert not on or name in ("proxy", "api"), f"{name} is on the trusted network {net}"


def test_the_proxy_sends_every_request_to_the_api_replicas_on_the_api_port() -> None:
    port = settings_of("api").port
    assert "127.0.0.11" in " ".join(nginx_directive("resolver")), "resolve `api` through Docker's DNS"
    (target,) = nginx_directive("proxy_pass")
    assert target.startswith("$"), "proxy_pass through a variable, so `api` is resolved again"
    assert f"set {target} http://api:{port};" in re.sub(r"\s+", " ", NGINX)
    assert "api" in SERVICES
    listens = {int(value.rsplit(":", 1)[-1].split()[0]) for value in nginx_directive("listen")}
    for pair in published("proxy"):
        assert int(pair.rsplit(":", 1)[-1]) in listens, f"the proxy publishes {pair}, not a port it listens on"
    headers = dict(value.split(None, 1) for value in nginx_directive("proxy_set_header"))
    assert headers.get("Host") == "$http_host", "the pages' CSRF check needs the Host the browser sent, with its port"
    assert "X-Forwarded-For" in headers and "X-Forwarded-Proto" in headers


def test_the_proxy_lets_the_largest_upload_through_and_outwaits_an_action() -> None:
    settings = settings_of("api")
    (size,) = nginx_directive("client_max_body_size")
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    body = int(size[:-1]) * units[size[-1].lower()] if size[-1].lower() in units else int(size)
    largest = settings.max_upload_mb * 1024 * 1024 * MAX_FILES + 1024 * 1024  # api/hardening.py
    assert body == 0 or body >= largest, f"client_max_body_size {size} refuses uploads the API accepts"
    (read,) = nginx_directive("proxy_read_timeout")
    assert int(read.rstrip("s")) > settings.action_timeout, "the proxy gives up before an action's answer"


def test_dockerfile_copies_every_package_the_project_installs() -> None:
    for package in PYPROJECT["tool"]["setuptools"]["packages"]:
        top = package.split(".")[0]
        assert f"COPY {top} {top}" in DOCKERFILE, f"Dockerfile does not copy {top}/"
    copied_files = {name for line in re.findall(r"^COPY (.+) \./$", DOCKERFILE, re.MULTILINE) for name in line.split()}
    for module in PYPROJECT["tool"]["setuptools"]["py-modules"]:
        assert f"{module}.py" in copied_files, f"Dockerfile does not copy {module}.py"


def test_dockerfile_copies_the_package_data() -> None:
    """Migrations, message catalogs, the policy, templates: each pattern of package-data finds files
    in the repository, inside a folder the Dockerfile copies."""
    copied = set(re.findall(r"^COPY (\S+) \1$", DOCKERFILE, re.MULTILINE))
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        folder = package.replace(".", "/")
        for pattern in patterns:
            path = f"{folder}/{pattern}"
            assert list(ROOT.glob(path)), f"package-data {package}: {pattern} finds nothing"
            assert any(path.startswith(source + "/") for source in copied), f"Dockerfile does not copy {path}"


def test_dockerignore_keeps_local_state_out_but_not_what_the_image_copies() -> None:
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        verdict = False
        for rule in rules:
            pattern = rule.removeprefix("!").removeprefix("**/")
            if fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/") \
                    or fnmatch(path.rsplit("/", 1)[-1], pattern):
                verdict = not rule.startswith("!")
        return verdict

    for kept_out in (".venv", ".git", "data/nq57.db", "test-output", ".env"):
        assert ignored(kept_out), f".dockerignore lets {kept_out} into the build"
    for line in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.MULTILINE):
        for source in line.split():
            for path in [ROOT / source, *(ROOT / source).rglob("*")]:
                relative = path.relative_to(ROOT).as_posix()
                if path.is_file() and "__pycache__" not in relative:
                    assert not ignored(relative), f".dockerignore keeps out {relative}, which the Dockerfile copies"


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
    for old_default in ("change-me-now", "change-me-too"):
        assert old_default not in COMPOSE_TEXT


def test_temporal_frontend_and_ui_are_not_published_on_the_host() -> None:
    """Temporal's frontend has no authorization by default: anyone reaching 7233 can act on tasks."""
    for name in ("temporal", "temporal-ui"):
        assert "ports" not in SERVICES[name], f"{name} is published on the host"
    assert re.search(r"^\s*#\s*-\s*\"127\.0\.0\.1:8233:8080\"", COMPOSE_TEXT, re.MULTILINE), \
        "a commented line shows how to reach the UI from this machine only"
