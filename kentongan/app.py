"""Wiring: the web app and the database schema built from every registered package.

Tests and the CLI call these; the lower layers' factories (``api.app.create_app``,
``inventory.migrate.upgrade``) take the packages' parts as arguments from here.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

import api.app
import inventory.migrate
from core.settings import Settings
from kentongan import registry


def create_app(settings: Settings) -> FastAPI:
    """The whole Kentongan web app for ``settings`` (every package's routes and services)."""
    return api.app.create_app(settings, installers=registry.app_installers())


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring ``engine``'s schema up to ``revision`` with every package's migrations."""
    inventory.migrate.upgrade(engine, revision, version_dirs=registry.migration_dirs())


def current_heads(engine: Engine) -> set[str]:
    """The revisions ``engine``'s database is at."""
    return inventory.migrate.current_heads(engine)
