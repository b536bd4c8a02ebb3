"""The package registry is complete: every package's commands, routes, models and
migrations are reached through it, and nothing below the composition root names it."""

from __future__ import annotations

import ast
from pathlib import Path

import typer
from fastapi import FastAPI

from core.settings import Settings
from kentongan import registry
from kentongan.app import create_app

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("core", "inventory", "collectors", "playbooks", "alerts", "api")


def _top_packages() -> list[str]:
    return [p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"]


def test_every_package_with_parts_is_registered() -> None:
    by_name = {p.name: p for p in registry.PACKAGES}
    for name in _top_packages():
        pkg = ROOT / name
        if name == "core":
            assert name not in by_name  # the kernel contributes no commands, routes or tables
            continue
        entry = by_name[name]
        assert ((pkg / "cli.py").is_file() or name == "kentongan") == (entry.cli is not None)
        assert (pkg / "models.py").is_file() == (entry.models == f"{name}.models")
        assert (pkg / "migrations" / "versions").is_dir() == entry.migrations


def test_every_installer_and_registrar_resolves() -> None:
    assert len(registry.cli_registrars()) == sum(1 for p in registry.PACKAGES if p.cli)
    installers = registry.app_installers()
    assert len(installers) == sum(len(p.installers) for p in registry.PACKAGES)
    assert all(d.is_dir() for d in registry.migration_dirs())


def test_app_installs_the_api_before_the_poller(tmp_path: Path) -> None:
    names = [f"{i.__module__}" for i in registry.app_installers()]
    assert names[:2] == ["api.params", "api.routes.health"]  # the 422 handler, then routes
    assert names[-1] == "collectors.service"  # the poller starts last, stops first
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", run_poller=False))
    assert isinstance(app, FastAPI)
    paths = set(app.openapi()["paths"])
    assert {"/healthz", "/metrics", "/api/v1/readiness"} <= paths


def test_cli_has_every_package_command() -> None:
    from kentongan.cli import app

    assert isinstance(app, typer.Typer)
    names = {g.name for g in app.registered_groups} | {
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    }
    assert {"db", "serve", "demo", "inventory", "poll", "rollout", "readiness"} <= names


def test_no_package_below_the_root_imports_kentongan() -> None:
    offenders = []
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                mods = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                offenders += [f"{path}: {m}" for m in mods if m.split(".")[0] == "kentongan"]
    assert offenders == []
