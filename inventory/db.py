"""The one place that creates database engines and sessions.

The API gets sessions through ``api/deps.py``; the CLI and the scheduler through
:func:`session_scope`. SQLite runs in WAL mode with foreign keys enforced.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every package's tables (one metadata, one schema)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_engines: dict[str, Engine] = {}


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 20, pool_timeout: float = 30.0
) -> Engine:
    """Create an engine for ``url`` (SQLite gets WAL, foreign keys and a busy timeout); the
    connection pool holds ``pool_size`` connections, ``max_overflow`` more under load, and a
    caller waits at most ``pool_timeout`` seconds for one."""
    pool: dict[str, Any] = {
        "pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout,
    }
    if url.startswith("sqlite"):
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            pool = {}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **pool)
    return engine


def get_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 20, pool_timeout: float = 30.0
) -> Engine:
    """The process-wide engine for ``url`` (created once; the first caller's pool sizes)."""
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = make_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout
        )
    return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, shutdown)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    session = Session(bind=engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def import_models(modules: Iterable[str]) -> None:
    """Import ``modules`` (each package's models, named by the composition root) so that
    ``Base.metadata`` knows all their tables."""
    for module in modules:
        importlib.import_module(module)
