"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis,
in-process ASGI): every operation, with no token and with a token of each role, never
answers 5xx. Beyond what the schema allows, the fuzzer sends huge integers (past 64 bits,
negative) in paths and queries and extreme dates (years 1 and 9999 with ±14:00 offsets);
rollouts are posted with ``run: false`` and release URLs pointed at a closed loopback port,
so nothing runs and nothing is fetched; the Alertmanager webhook is fuzzed with its token.

Budget: four examples per operation and principal (plus schemathesis' boundary cases),
about 80 s of CPU (wall time grows with the load of the shared 2-core machine).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.auth import Role
from api.params import MAX_ID
from tests.api.conftest import ApiEnv, make_env
from tests.support.fuzzing import BIG_INTS, add_big_int_hooks, register_extreme_formats

OUR_TAGS = ("readiness", "auth", "inventory-write")
WEBHOOK_TOKEN = "fuzz-webhook-token-5e6f"
FUZZ = settings(max_examples=4, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

register_extreme_formats()


def _closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    """An app of its own (fuzzed writes land here), the board cached for 30 s."""
    path: Path = tmp_path_factory.mktemp("fuzz") / "kentongan.db"
    yield from make_env(path, readiness_cache_seconds=30,
                        webhook_token=SecretStr(WEBHOOK_TOKEN))


@pytest.fixture(scope="module")
def whole_schema(fuzz_env: ApiEnv) -> object:
    return add_big_int_hooks(schemathesis.openapi.from_asgi("/openapi.json", fuzz_env.app))


@pytest.fixture(scope="module")
def release_port() -> int:
    return _closed_loopback_port()


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis' lazy loader reads ``node._nodeid``, which pytest 9 no longer sets."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def _tame(case: schemathesis.Case, release_port: int) -> None:
    """Keep the fuzzer from starting Ansible, fetching the internet or revoking the
    fuzzing tokens themselves; everything else is sent as generated."""
    if case.method.upper() == "POST" and case.path == "/api/v1/rollouts" and isinstance(
        case.body, dict
    ):
        case.body["run"] = False
        url = case.body.get("url")
        if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
            case.body["url"] = f"http://127.0.0.1:{release_port}/release.tgz"
    if case.method.upper() == "DELETE" and case.path == "/api/v1/tokens/{token_id}":
        token_id = (case.path_parameters or {}).get("token_id")
        if isinstance(token_id, int) and 1 <= token_id <= MAX_ID:
            case.path_parameters = {"token_id": 10_000 + token_id % 1000}


def _fuzz(case: schemathesis.Case, env: ApiEnv, role: Role | None, port: int) -> None:
    _tame(case, port)
    case.call_and_validate(headers=env.headers(role), checks=[not_a_server_error])


whole = schemathesis.pytest.from_fixture("whole_schema")
# Filters go on the lazy schema: the fixture's own filters are replaced when it is loaded.
ours = schemathesis.pytest.from_fixture("whole_schema").include(tag=list(OUR_TAGS))
webhook = schemathesis.pytest.from_fixture("whole_schema").include(
    path="/api/v1/alerts", method="POST"
)


@whole.parametrize()
@FUZZ
def test_every_operation_anonymous(case: schemathesis.Case, fuzz_env: ApiEnv,
                                   release_port: int) -> None:
    """Every operation without a token: never a 5xx."""
    _fuzz(case, fuzz_env, None, release_port)


@whole.parametrize()
@FUZZ
def test_every_operation_as_viewer(case: schemathesis.Case, fuzz_env: ApiEnv,
                                   release_port: int) -> None:
    """Every operation with a viewer token: never a 5xx."""
    _fuzz(case, fuzz_env, Role.VIEWER, release_port)


@whole.parametrize()
@FUZZ
def test_every_operation_as_technician(case: schemathesis.Case, fuzz_env: ApiEnv,
                                       release_port: int) -> None:
    """Every operation with a technician token (rollouts, attestations): never a 5xx."""
    _fuzz(case, fuzz_env, Role.TECHNICIAN, release_port)


@whole.parametrize()
@FUZZ
def test_every_operation_as_engineer(case: schemathesis.Case, fuzz_env: ApiEnv,
                                     release_port: int) -> None:
    """Every operation with an engineer token (inventory writes): never a 5xx."""
    _fuzz(case, fuzz_env, Role.ENGINEER, release_port)


@whole.parametrize()
@FUZZ
def test_every_operation_as_admin(case: schemathesis.Case, fuzz_env: ApiEnv,
                                  release_port: int) -> None:
    """Every operation with an admin token (tokens, audit): never a 5xx."""
    _fuzz(case, fuzz_env, Role.ADMIN, release_port)


@webhook.parametrize()
@FUZZ
def test_alerts_webhook_with_its_token(case: schemathesis.Case, fuzz_env: ApiEnv) -> None:
    """The Alertmanager webhook with the webhook token: never a 5xx."""
    case.call_and_validate(headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
                           checks=[not_a_server_error])


@ours.parametrize()
@FUZZ
def test_our_operations_answer_in_their_schema(case: schemathesis.Case, fuzz_env: ApiEnv,
                                               release_port: int) -> None:
    """Readiness, auth and inventory writes with an admin token: no 5xx, and responses
    match the schema (content types, bodies)."""
    assert set(case.operation.tags or ()) & set(OUR_TAGS), case.operation.label
    _tame(case, release_port)
    case.call_and_validate(
        headers=fuzz_env.headers(Role.ADMIN),
        checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
    )


_query_values = st.one_of(
    st.text(max_size=80), st.sampled_from(["", "\x00", "a\x00b", "snmp", "ssh", "%00"]),
    st.integers().map(str), st.sampled_from([str(i) for i in BIG_INTS]),
)


@pytest.mark.parametrize("role", [None, Role.VIEWER, Role.ADMIN])
def test_probe_with_fuzzed_queries(fuzz_env: ApiEnv, role: Role | None) -> None:
    """``/probe`` declares no parameters in the schema (it validates its query itself):
    fuzz ``target``, ``module`` and stray keys directly. Targets are never a real device
    id, so nothing leaves the machine."""
    devices = {"rtr-kemiren", "kiosk-kemiren-1"}

    @given(query=st.dictionaries(
        st.sampled_from(["target", "module", "auth", "x"]), _query_values, max_size=4))
    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def probe(query: dict[str, str]) -> None:
        if query.get("target") in devices:
            return
        r = fuzz_env.client.get("/probe", params=query, headers=fuzz_env.headers(role))
        assert r.status_code < 500, (query, r.status_code, r.text[:200])

    probe()
