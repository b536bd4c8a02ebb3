"""Every package's migrations produce exactly the schema its models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from inventory.db import Base, import_models
from inventory.migrate import alembic_config, current_heads
from kentongan import registry


def test_migrations_match_the_models(any_engine: Engine) -> None:
    import_models(registry.model_modules())
    with any_engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diff = compare_metadata(context, Base.metadata)
    # Index/constraint naming can differ harmlessly on SQLite; tables and columns may not.
    relevant = [
        d for d in diff if d[0] in ("add_table", "remove_table", "add_column", "remove_column")
    ]
    assert relevant == [], relevant


def test_every_package_head_is_applied(any_engine: Engine) -> None:
    config = alembic_config(str(any_engine.url), version_dirs=registry.migration_dirs())
    script = ScriptDirectory.from_config(config)
    expected = set(script.get_heads())
    assert current_heads(any_engine) == expected
    branches = {label for rev in script.walk_revisions() for label in rev.branch_labels}
    assert {"inventory", "collectors", "alerts", "playbooks", "api"} <= branches
