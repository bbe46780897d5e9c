"""Every setting of the system, read once from the environment (prefix NQ57_)."""

import secrets
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.deadlines import DEFAULT_TIMEZONE
from domain.durations import parse_duration, parse_durations
from domain.task import LifecycleSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NQ57_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = Field(default="", description="empty: SQLite file nq57.db under the data dir")
    temporal_address: str = Field(default="", description="empty: start the embedded Temporal dev server")
    temporal_namespace: str = "default"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    task_queue: str = "nq57-tasks"
    host: str = "127.0.0.1"
    port: int = 8000
    run_worker: bool = Field(default=True, description="run a worker inside the API process")
    admin_password: str = ""
    secret_key: str = Field(default="", description="signs access tokens; empty: kept in the data dir")
    token_minutes: int = 8 * 60
    escalation_steps: str = "0d,7d,14d"
    accept_sla: str = "7d"
    review_sla: str = "10d"
    rework_period: str = "14d"
    timezone: str = DEFAULT_TIMEZONE
    demo: bool = False
    max_upload_mb: int = 50
    smtp_url: str = ""
    webhook_url: str = ""

    @property
    def async_database_url(self) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'nq57.db').resolve()}"
        for plain, driver in (("postgresql://", "postgresql+asyncpg://"), ("postgres://", "postgresql+asyncpg://"),
                              ("sqlite://", "sqlite+aiosqlite://")):
            if url.startswith(plain):
                return driver + url[len(plain):]
        return url

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
        return LifecycleSettings(timezone=self.timezone, rework_period=parse_duration(self.rework_period))

    @property
    def escalation_offsets(self) -> list[timedelta]:
        return parse_durations(self.escalation_steps)
