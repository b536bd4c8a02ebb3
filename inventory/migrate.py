"""Alembic, driven from Python: ``kentongan db upgrade`` and the test fixtures.

Every package keeps its own migrations in ``<package>/migrations/versions``; each
package's first migration descends from the inventory's, so ``upgrade heads`` brings
all of them up. Which packages take part is the composition root's choice: callers pass
their ``versions`` directories (``kentongan.app.upgrade`` passes every registered one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent
VERSIONS = HERE / "migrations" / "versions"
"""The inventory's own migrations (the root every other package's chain descends from)."""


def alembic_config(url: str, *, version_dirs: Sequence[Path]) -> Config:
    """An Alembic config for ``url`` whose revisions come from ``version_dirs``."""
    missing = [str(d) for d in version_dirs if not d.is_dir()]
    if missing:
        raise FileNotFoundError(f"migration directories do not exist: {', '.join(missing)}")
    locations = [str(d) for d in dict.fromkeys([VERSIONS, *version_dirs])]
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads", *, version_dirs: Sequence[Path]) -> None:
    """Bring the schema of ``engine``'s database up to ``revision`` (all heads by default)
    with the migrations in ``version_dirs``."""
    cfg = alembic_config(
        engine.url.render_as_string(hide_password=False), version_dirs=version_dirs
    )
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_heads(engine: Engine) -> set[str]:
    """The revisions ``engine``'s database is at."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())
