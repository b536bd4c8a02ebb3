"""Property-based fuzzing of the alerts and metrics operations from the OpenAPI schema
(schemathesis, in-process ASGI), with huge integers and extreme dates (years 1 and 9999,
±14:00 offsets): never a 5xx, responses in the promised shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from core.settings import Settings
from kentongan.app import create_app
from tests.alerts.support import seed, set_all_up
from tests.support.db import migrated_engine
from tests.support.fuzzing import add_big_int_hooks, register_extreme_formats

register_extreme_formats()

TOKEN = "fuzz-webhook-token-0a1b"
FUZZ = settings(max_examples=10, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    url = f"sqlite:///{tmp_path_factory.mktemp('alerts-fuzz') / 'kentongan.db'}"
    engine = migrated_engine(url)
    seed(engine)
    set_all_up(engine)
    app = create_app(Settings(database_url=url, run_poller=False,
                              webhook_token=SecretStr(TOKEN), readiness_cache_seconds=600))
    with TestClient(app):
        yield app
    engine.dispose()


@pytest.fixture(scope="module")
def alerts_schema(fuzz_app: FastAPI) -> object:
    schema = add_big_int_hooks(schemathesis.openapi.from_asgi("/openapi.json", fuzz_app))
    return schema.include(tag=["alerts", "metrics"])


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


ours = schemathesis.pytest.from_fixture("alerts_schema")


@ours.parametrize()
@FUZZ
def test_alerts_operations(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
    )
