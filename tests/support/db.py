"""Test databases: a fresh SQLite file, or a fresh schema on the PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import Engine

from inventory.db import make_engine
from kentongan.app import upgrade

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("KENTONGAN_TEST_POSTGRES_URL", DEFAULT_PG)


def postgres_available() -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        engine = sa.create_engine(postgres_url())
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # reported as the reason
        return f"{type(exc).__name__}: {exc}"
    return None


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a brand-new schema, dropped afterwards."""
    base = postgres_url()
    schema = f"ktg_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def migrated_engine(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine
