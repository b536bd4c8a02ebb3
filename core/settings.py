"""Settings from the environment (``KENTONGAN_`` prefix), loaded through ``get_settings()``.

Never instantiate settings at import time: tests build their own ``Settings(...)``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def parse_release_sources(value: object) -> tuple[str, ...]:
    """``KENTONGAN_RELEASE_SOURCES`` (a comma-separated string or a sequence) → its
    normalised entries: absolute directories as given, base URLs with a trailing ``/``.

    Strict: an empty entry, a relative path, a URL that is not plain http(s) with a host,
    or one with user info, a query or a fragment raises ``ValueError`` naming the entry.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")] if value.strip() else []
    elif isinstance(value, list | tuple):
        items = [str(part).strip() for part in value]
    else:
        raise ValueError("KENTONGAN_RELEASE_SOURCES must be a comma-separated list")
    found: list[str] = []
    for index, item in enumerate(items, start=1):
        where = f"KENTONGAN_RELEASE_SOURCES entry {index} ({item!r})"
        if not item:
            raise ValueError(f"{where} is empty; remove the stray comma")
        if item.startswith("/"):
            entry = str(Path(item))
            if ".." in Path(item).parts:
                raise ValueError(f"{where}: a release directory may not contain '..'")
        elif "://" in item:
            parts = urlsplit(item)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{where}: a base URL must be http(s)://HOST[:PORT]/PATH/")
            if parts.username is not None or parts.password is not None:
                raise ValueError(
                    f"KENTONGAN_RELEASE_SOURCES entry {index}: a base URL may not carry a "
                    "user or password"
                )
            if parts.query or parts.fragment or "?" in item or "#" in item:
                raise ValueError(f"{where}: a base URL may not have a query or fragment")
            try:
                port = parts.port
            except ValueError:
                raise ValueError(f"{where}: the port is not a number 1-65535") from None
            if ".." in parts.path.split("/"):
                raise ValueError(f"{where}: a base URL may not contain '..'")
            netloc = parts.hostname.lower() + (f":{port}" if port else "")
            if ":" in parts.hostname:
                netloc = f"[{parts.hostname.lower()}]" + (f":{port}" if port else "")
            path = parts.path if parts.path.endswith("/") else parts.path + "/"
            entry = f"{parts.scheme}://{netloc}{path}"
        else:
            raise ValueError(
                f"{where} is neither an absolute directory nor an http(s) base URL "
                "(for example /srv/kiosk-releases,https://rilis.example.go.id/kiosk/)"
            )
        if entry in found:
            raise ValueError(f"{where} is listed twice")
        found.append(entry)
    return tuple(found)


class Settings(BaseSettings):
    """Everything Kentongan reads from its environment."""

    # hide_input_in_errors: a bad value may hold a secret (a URL with a password).
    model_config = SettingsConfigDict(
        env_prefix="KENTONGAN_", extra="ignore", hide_input_in_errors=True
    )

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
    poll_retry_fractions: list[float] = Field(
        default_factory=lambda: [1 / 6, 1 / 3],
        description="After the k-th missed poll (k < down_after_failures), poll again after "
        "this fraction of the interval (60 s: 10 s, then 20 s), JSON: [0.1667, 0.3333]",
    )
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
    release_sources: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "Where releases may come from, comma-separated: absolute release directories "
            "and/or base URLs (http(s)://host[:port]/path/); a rollout `url` must lie under "
            "one of the URLs. Empty: no URL is allowed"
        ),
    )
    release_download_timeout: float = Field(
        default=300.0, gt=0, le=3600,
        description="Overall seconds a release download may take (connect to last byte)",
    )
    release_download_max_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, le=16 * 1024**3,
        description="Largest release tarball the server downloads to verify, in bytes",
    )
    playbook_vars_file: Path | None = Field(
        default=None,
        description=(
            "The administrator's YAML/JSON file of site-wide playbook variables: the only "
            "values Ansible may template (everything else is passed to it as data)"
        ),
    )
    service_hours: str = "08:00-15:00"
    service_days: str = "mon,tue,wed,thu,fri"
    rollout_unreachable_after_days: float = 7.0
    rollout_auto_resume: bool = False

    @field_validator("release_sources", mode="before")
    @classmethod
    def _parse_release_sources(cls, value: object) -> tuple[str, ...]:
        return parse_release_sources(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
