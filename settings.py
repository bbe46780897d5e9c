"""Every setting of the system, read once from the environment (prefix NQ57_)."""

import ipaddress
import secrets
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from db.session import make_engine
from domain.deadlines import DEFAULT_TIMEZONE, TimezoneName
from domain.durations import parse_duration, parse_durations
from domain.escalation import ladder_mismatch
from domain.proof import derive_key
from domain.task import LifecycleSettings


class Settings(BaseSettings):
    # Assigning a setting (tests do, e.g. escalation_steps = "2s,4s,6s") parses it as the environment would.
    model_config = SettingsConfigDict(env_prefix="NQ57_", extra="ignore", validate_assignment=True)

    data_dir: Path = Path("./data")
    database_url: str = Field(default="", description="empty: SQLite file nq57.db under the data dir")
    temporal_address: str = Field(default="", description="empty: start the embedded Temporal dev server")
    temporal_namespace: str = "default"
    temporal_tls_cert: Path | None = Field(default=None, description="a client certificate (PEM) for a "
                                           "Temporal that requires mTLS, Temporal Cloud's among them")
    temporal_tls_key: Path | None = Field(default=None, description="its private key (PEM)")
    temporal_tls_ca: Path | None = Field(default=None, description="the CA that signed the server's certificate "
                                         "(PEM); empty: the system's")
    temporal_api_key: str = Field(default="", description="an API key for Temporal Cloud instead of mTLS "
                                  "(TLS is then on)")
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    task_queue: str = "nq57-tasks"
    host: str = "127.0.0.1"
    port: int = 8000
    api_processes: int = Field(default=1, ge=1, le=64, description="server.py (make run): uvicorn processes "
                               "serving the API on the one port")
    run_worker: bool = Field(default=True, description="run a worker inside the API process")
    worker_processes: int = Field(default=1, ge=0, le=16, description="server.py (make run): worker processes "
                                  "it starts beside the API instead of the API's own (0: the API runs it)")
    db_pool_size: int = Field(default=10, ge=1, description="database connections kept open per process")
    db_max_overflow: int = Field(default=20, ge=0, description="extra connections allowed under load")
    db_pool_timeout: float = Field(default=10, gt=0, description="seconds to wait for a free connection, then 503")
    action_timeout: float = Field(default=20, gt=0, description="seconds an action may wait for its workflow "
                                  "before it answers 503 (safe to retry with the same Idempotency-Key)")
    workflow_sandbox: bool = Field(default=False, description="run workflows in the Temporal SDK's sandbox, "
                                   "which refuses non-deterministic calls as they happen (the test suite runs with "
                                   "it; off, a worker spends a third less CPU per task created)")
    worker_poll_window: float = Field(default=90, gt=0, description="seconds since a worker last polled "
                                      "the task queue for /readyz to count it as alive")
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535, description="where a worker answers "
                                     "Prometheus at /metrics (server.py's worker processes take this port and the "
                                     "next ones); 0: nowhere")
    log_format: Literal["text", "json"] = Field(default="text", description="json: one JSON object a line, "
                                                "with request id, actor and task code")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    blob_store: str = Field(default="", description="where evidence files are kept: empty, the blobs folder "
                            "under the data dir (a filesystem every process shares); s3://bucket/prefix, an "
                            "S3-compatible store (credentials from the AWS_* variables)")
    s3_endpoint_url: str = Field(default="", description="an S3-compatible store's address (MinIO, Ceph…); "
                                 "empty: AWS's")
    s3_region: str = ""
    admin_password: str = ""
    secret_key: str = Field(default="", description="signs access tokens; empty: kept in the data dir")
    token_minutes: int = 8 * 60
    # Durations are written `30s`, `5m`, `2h`, `7d`; the steps comma-separated, one per escalation level.
    escalation_steps: Annotated[tuple[timedelta, ...], NoDecode] = (timedelta(0), timedelta(days=7),
                                                                    timedelta(days=14))
    accept_sla: timedelta = timedelta(days=7)
    budget_sla: timedelta = timedelta(days=14)
    review_sla: timedelta = timedelta(days=10)
    rework_period: timedelta = timedelta(days=14)
    deadline_pending_reminder: timedelta = Field(
        default=timedelta(days=30), gt=timedelta(0), description="how long after a task is assigned without a "
        "deadline, and again each such period, the Standing Office is reminded to set one")
    budget_decision_sla: timedelta = Field(default=timedelta(days=10), description="how long the finance "
                                           "reviewer has to decide a budget (or an amendment) before it escalates")
    review_assign_sla: timedelta = Field(default=timedelta(days=5), description="how long the Standing Office "
                                         "has to assign a cross-check reviewer once evidence is in")
    extension_decision_sla: timedelta = Field(default=timedelta(days=7), description="how long the Standing "
                                              "Office has to decide an extension request")
    reminders: Annotated[tuple[timedelta, ...], NoDecode] = Field(
        default=(timedelta(days=7), timedelta(days=3), timedelta(days=1)),
        description="early warning: how long before each deadline its owner is reminded, comma-separated")
    due_soon: timedelta = Field(default=timedelta(days=7), description="an open task due within this is "
                                "`due_soon` in the status classes")
    max_extensions: int = 2
    timezone: TimezoneName = DEFAULT_TIMEZONE
    demo: bool = False
    max_upload_mb: int = 50
    public_rate_limit: int = Field(default=120, description="requests a minute per client on /public")
    trusted_proxies: str = Field(default="", description="comma-separated addresses or networks of reverse "
                                 "proxies whose X-Forwarded-For names the client; empty: none is trusted")
    login_attempts: int = Field(default=5, ge=1, description="wrong passwords for one username before it is locked")
    login_attempts_per_client: int = Field(default=30, ge=1, description="wrong passwords from one client "
                                           "address (any usernames) before it is locked")
    login_lockout: timedelta = Field(default=timedelta(minutes=15), description="how long wrong passwords "
                                     "count, and how long a lockout lasts")
    secure_cookies: bool = Field(default=False, description="mark cookies Secure even when the request reached "
                                 "the API over plain HTTP (behind a TLS-terminating proxy)")
    smtp_url: str = ""
    webhook_url: str = ""
    webhook_secret: str = Field(default="", description="signs webhook bodies; empty: the token secret")

    @field_validator("accept_sla", "budget_sla", "review_sla", "rework_period", "deadline_pending_reminder",
                     "login_lockout", "budget_decision_sla", "review_assign_sla", "extension_decision_sla",
                     "due_soon", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("escalation_steps", "reminders", mode="before")
    @classmethod
    def _steps_parse(cls, value: Any) -> Any:
        return parse_durations(value) if isinstance(value, str) else value

    @field_validator("escalation_steps")
    @classmethod
    def _steps_fit_the_ladder(cls, steps: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        if (mismatch := ladder_mismatch(steps)) is not None:
            raise ValueError(mismatch)
        return steps

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        _networks(value)
        return value

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return _networks(self.trusted_proxies)

    @property
    def async_database_url(self) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'nq57.db').resolve()}"
        for plain, driver in (("postgresql://", "postgresql+asyncpg://"), ("postgres://", "postgresql+asyncpg://"),
                              ("sqlite://", "sqlite+aiosqlite://")):
            if url.startswith(plain):
                return driver + url[len(plain):]
        return url

    def make_engine(self) -> AsyncEngine:
        return make_engine(self.async_database_url, self.db_pool_size, self.db_max_overflow, self.db_pool_timeout)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @cached_property
    def token_secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def lifecycle(self) -> LifecycleSettings:
        """What each new task's workflow is started with."""
        return LifecycleSettings(
            timezone=self.timezone, rework_period=self.rework_period, accept_sla=self.accept_sla,
            budget_sla=self.budget_sla, review_sla=self.review_sla, escalation_steps=self.escalation_steps,
            max_extensions=self.max_extensions, deadline_pending_reminder=self.deadline_pending_reminder,
            reminders=tuple(sorted(self.reminders, reverse=True)), budget_decision_sla=self.budget_decision_sla,
            review_assign_sla=self.review_assign_sla, extension_decision_sla=self.extension_decision_sla,
        )

    @property
    def signing_secret(self) -> str:
        return self.webhook_secret or self.token_secret

    @cached_property
    def proof_key(self) -> bytes:
        """Signs the actions the API authorized; the workers check it (domain/proof.py). API and
        workers must share NQ57_SECRET_KEY (or the data dir that keeps it)."""
        return derive_key(self.token_secret)


def _networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`10.0.0.5, 172.16.0.0/12` as networks (a lone address is a network of one)."""
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise ValueError(f"NQ57_TRUSTED_PROXIES cần địa chỉ IP hoặc mạng, cách nhau bởi dấu phẩy: {error}") from None


def load_settings() -> Settings:
    """The settings of this process, or an exit naming each one it cannot run with: the check at start."""
    try:
        return Settings()
    except ValidationError as error:
        raise SystemExit("Cấu hình không hợp lệ:\n" + "\n".join(_problem(p) for p in error.errors())) from None


def _problem(problem: ErrorDetails) -> str:
    """One refused setting, named as it is in the environment."""
    name = "NQ57_" + "_".join(str(part) for part in problem["loc"]).upper()
    message = problem["msg"].removeprefix("Value error, ")
    return message if message.startswith(name) else f"{name}: {message}"
