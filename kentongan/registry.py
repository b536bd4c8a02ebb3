"""The one list of Kentongan's packages and what each contributes to the whole.

Every package below the composition root may bring CLI commands (a module with
``register(app: typer.Typer)``), parts of the web app (modules with
``install(app: FastAPI)``), SQLAlchemy models (a module whose import registers its tables on
``inventory.db.Base``) and Alembic migrations (``<package>/migrations/versions``). Adding a
package means adding one :class:`Package` here; the CLI, the app factory, the migrations and
the models check all read this tuple, and the lower layers receive what they need from it
as arguments (they never name the packages above them).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent

CliRegistrar = Callable[["typer.Typer"], None]
AppInstaller = Callable[["FastAPI"], None]


@dataclass(frozen=True, slots=True)
class Package:
    """One package and its contributions, by dotted module name (imported on demand, so
    that ``kentongan --help`` does not load the web app). ``cli_wiring()`` gives keyword
    arguments for the package's ``register``: what it needs from the packages above it."""

    name: str
    cli: str | None = None
    cli_wiring: Callable[[], Mapping[str, Any]] | None = None
    installers: tuple[str, ...] = field(default_factory=tuple)
    models: str | None = None
    migrations: bool = False

    @property
    def migrations_dir(self) -> Path | None:
        """``<package>/migrations/versions`` when the package has migrations."""
        return ROOT / self.name / "migrations" / "versions" if self.migrations else None


def _alerts_wiring() -> Mapping[str, Any]:
    from api.routes.alerts import policy_cohorts

    return {"cohort_source": policy_cohorts}


PACKAGES: tuple[Package, ...] = (
    Package("inventory", cli="inventory.cli", models="inventory.models", migrations=True),
    Package(
        "collectors",
        cli="collectors.cli",
        installers=("collectors.service",),
        models="collectors.models",
        migrations=True,
    ),
    Package(
        "playbooks",
        cli="playbooks.cli",
        installers=("playbooks.service",),
        models="playbooks.models",
        migrations=True,
    ),
    Package(
        "alerts",
        cli="alerts.cli",
        cli_wiring=_alerts_wiring,
        models="alerts.models",
        migrations=True,
    ),
    Package(
        "api",
        cli="api.cli",
        installers=(
            "api.params",
            "api.routes.health",
            "api.routes.inventory",
            "api.routes.readiness",
            "api.routes.auth",
            "api.routes.inventory_write",
            "api.routes.metrics",
            "api.routes.alerts",
            "api.routes.rollouts",
            "api.dashboard.routes",
        ),
        models="api.models",
        migrations=True,
    ),
    Package("kentongan", cli="kentongan.commands"),
)
"""Lowest layer first. Commands register in this order; the web app installs in the
reverse order (the API's routes first, the poller last), so the poller starts once every
listener is in place and stops first."""

def _attribute(module_name: str, attribute: str) -> Any:
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise TypeError(
            f"{module_name} is listed in kentongan/registry.py but defines no {attribute}(); "
            f"add it or remove the entry"
        ) from None


def cli_registrars() -> list[CliRegistrar]:
    """Each package's ``register(app)``, lowest layer first."""
    registrars: list[CliRegistrar] = []
    for p in PACKAGES:
        if p.cli is None:
            continue
        register = cast(CliRegistrar, _attribute(p.cli, "register"))
        if p.cli_wiring is not None:
            register = functools.partial(register, **p.cli_wiring())
        registrars.append(register)
    return registrars


def app_installers() -> list[AppInstaller]:
    """Each ``install(app)`` of the web app, highest layer first."""
    return [
        cast(AppInstaller, _attribute(name, "install"))
        for p in reversed(PACKAGES)
        for name in p.installers
    ]


def model_modules() -> tuple[str, ...]:
    """Every module that declares tables."""
    return tuple(p.models for p in PACKAGES if p.models)


def migration_dirs() -> tuple[Path, ...]:
    """Every package's Alembic ``versions`` directory."""
    return tuple(d for p in PACKAGES if (d := p.migrations_dir) is not None)
