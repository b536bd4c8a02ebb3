"""Alembic, driven from Python: ``kentongan db upgrade`` and the test fixtures.

Every package keeps its own migrations in ``<package>/migrations/versions``; each
package's first migration descends from the inventory's, so ``upgrade heads`` brings
all of them up.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("inventory", "collectors", "alerts", "playbooks", "api")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "inventory" / "migrations"))
    locations = [
        str(ROOT / pkg / "migrations" / "versions")
        for pkg in PACKAGES
        if (ROOT / pkg / "migrations" / "versions").is_dir()
    ]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema of ``engine``'s database up to ``revision`` (all heads by default)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_heads(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())
