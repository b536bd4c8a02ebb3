"""Settings from the environment (``KENTONGAN_`` prefix), loaded through ``get_settings()``.

Never instantiate settings at import time: tests build their own ``Settings(...)``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Kentongan reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="KENTONGAN_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///kentongan.db",
        description="SQLAlchemy URL: sqlite:///path.db (embedded) or postgresql+psycopg://…",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    # Collectors
    poll_interval_seconds: float = 60.0
    poll_timeout_seconds: float = 2.0
    poll_retries: int = 1
    poll_concurrency: int = 200
    down_after_failures: int = 3
    stale_after_intervals: float = 3.0
    ssh_workers: int = 16
    poll_role_intervals: dict[str, float] = Field(
        default_factory=dict,
        description='Poll interval per device role, JSON: {"kiosk": 300, "ups": 30}',
    )
    poll_reload_seconds: float = Field(
        default=300.0, description="How often the poller re-reads the inventory"
    )
    kiosk_root: str = Field(
        default="/opt/kiosk",
        description="Kiosk app directory the SSH collector reads ({device_id} is filled in)",
    )
    kiosk_service: str = Field(default="kiosk-app", description="systemd unit of the kiosk app")
    ssh_known_hosts: Path | None = Field(
        default=None,
        description="known_hosts file for SSH host-key checking (default ~/.ssh/known_hosts)",
    )

    run_poller: bool = Field(default=True, description="Run the scheduler inside `serve`")

    # Prometheus / alerts
    prometheus_url: str | None = Field(
        default=None, description="When set, availability is read from this Prometheus' query API"
    )
    webhook_token: SecretStr | None = Field(
        default=None, description="Bearer token Alertmanager presents to POST /api/v1/alerts"
    )

    # Readiness / API
    policy_path: Path | None = Field(default=None, description="Qualification policy YAML")
    public_readiness: bool = Field(
        default=True, description="Allow reading readiness without a token"
    )
    scrape_token_file: Path | None = Field(
        default=None,
        description="File holding the bearer token Prometheus presents to /metrics, /probe and "
        "/api/v1/sd/prometheus (the same file prometheus.yml names as credentials_file)",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body (413 above it)"
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Time a client has to send a whole request body (408)"
    )
    access_log: bool = Field(default=True, description="Log every request (no secrets)")
    probe_concurrency: int = Field(
        default=32, ge=1, description="/probe calls served at once (429 with Retry-After above)"
    )
    probe_deadline_seconds: float = Field(
        default=9.0, gt=0, description="Total time one /probe may take (504 after it)"
    )
    db_pool_size: int = Field(default=10, ge=1, description="Database connections kept open")
    db_max_overflow: int = Field(default=20, ge=0, description="Extra connections under load")
    db_pool_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Wait for a free database connection before failing"
    )
    readiness_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Keep the computed readiness board this long (0: recompute every read)",
    )

    # Rollouts
    playbook_dir: Path | None = None
    release_dir: Path | None = None
    service_hours: str = "08:00-15:00"
    service_days: str = "mon,tue,wed,thu,fri"
    rollout_unreachable_after_days: float = 7.0
    rollout_auto_resume: bool = False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
