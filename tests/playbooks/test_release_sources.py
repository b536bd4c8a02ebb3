"""Release downloads are not a fetcher: only the base URLs of ``KENTONGAN_RELEASE_SOURCES``,
no redirect elsewhere, an overall time limit and a size limit, and the caller learns only
"not an allowed source" / "download failed" / "checksum mismatch". Real HTTP servers on
loopback; every attempt is audited with its full URL and the person."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from api.auth import Role, create_token
from api.models import AuditEntry
from core.settings import Settings, parse_release_sources
from inventory.db import session_scope
from kentongan.app import create_app
from playbooks.errors import ReleaseError
from playbooks.models import Rollout, RolloutEvent
from playbooks.release import DownloadAttempt, DownloadOutcome, ReleaseSources, resolve_release
from playbooks.sample_app import build_sample_release
from tests.playbooks.conftest import add_kiosks
from tests.playbooks.kiosks import KioskFleet

pytestmark = pytest.mark.integration

SECRET_BODY = b"internal-service-answer-7f3a"
Route = Callable[[http.server.BaseHTTPRequestHandler], None]


class LoopbackServer:
    """A threaded HTTP server on ``address`` (port chosen by the OS) with one handler
    function per path; unknown paths answer 404 with a body that must never leak."""

    def __init__(self, address: str) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                hits.append(self.path)
                route = routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(SECRET_BODY)))
                    self.end_headers()
                    self.wfile.write(SECRET_BODY)
                    return
                route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://{address}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_bytes(data: bytes) -> Route:
    """A route answering 200 with ``data``."""

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return route


def redirect_to(location: str) -> Route:
    """A route answering 302 to ``location``."""

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def drip(total: int, every: float) -> Route:
    """A route sending ``total`` bytes one at a time, ``every`` seconds apart."""

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(total))
        handler.end_headers()
        try:
            for _ in range(total):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(every)
        except OSError:
            pass  # the client gave up, as it should

    return route


def undeclared(size: int) -> Route:
    """A route sending ``size`` bytes with no Content-Length (the body ends at close)."""

    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            for _ in range(size // 4096 + 1):
                handler.wfile.write(b"y" * 4096)
        except OSError:
            pass

    return route


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """A sample release's bytes and sha256."""
    path = build_sample_release(tmp_path_factory.mktemp("src-release"), "1.0.0")
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


@pytest.fixture
def servers(tarball: tuple[bytes, str]) -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    """The allowed release server on 127.0.0.1 and a foreign one on 127.0.0.2."""
    data, _sha = tarball
    with LoopbackServer("127.0.0.1") as allowed, LoopbackServer("127.0.0.2") as foreign:
        allowed.routes["/kiosk/kiosk-app-1.0.0.tar.gz"] = serve_bytes(data)
        foreign.routes["/kiosk/kiosk-app-1.0.0.tar.gz"] = serve_bytes(data)
        allowed.routes["/kiosk/moved.tar.gz"] = redirect_to("/kiosk/kiosk-app-1.0.0.tar.gz")
        allowed.routes["/kiosk/away.tar.gz"] = redirect_to(
            foreign.base + "kiosk/kiosk-app-1.0.0.tar.gz"
        )
        allowed.routes["/kiosk/outside.tar.gz"] = redirect_to("/private/thing")
        allowed.routes["/private/thing"] = serve_bytes(SECRET_BODY)
        allowed.routes["/kiosk/slow.tar.gz"] = drip(10_000, 0.05)
        allowed.routes["/kiosk/big.tar.gz"] = serve_bytes(b"z" * 300_000)
        allowed.routes["/kiosk/big-undeclared.tar.gz"] = undeclared(300_000)
        yield allowed, foreign


def _resolve(
    url: str, sha: str, allowed: LoopbackServer, attempts: list[DownloadAttempt], **kw: object
) -> None:
    resolve_release(
        "1.0.0",
        url=url,
        sha256=sha,
        sources=ReleaseSources.from_entries([allowed.base + "kiosk/"]),
        record=attempts.append,
        **kw,  # type: ignore[arg-type]
    )


def _opaque(message: str, *leaks: str) -> None:
    for leak in ("404", "302", "500", SECRET_BODY.decode(), "127.0.0.2", *leaks):
        assert leak not in message, f"{leak!r} leaked into {message!r}"


def test_allowed_source_ok_and_same_host_redirect(
    servers: tuple[LoopbackServer, LoopbackServer], tarball: tuple[bytes, str]
) -> None:
    allowed, _foreign = servers
    data, sha = tarball
    attempts: list[DownloadAttempt] = []
    url = allowed.base + "kiosk/kiosk-app-1.0.0.tar.gz"
    spec = resolve_release("1.0.0", url=url, sha256=sha,
                           sources=ReleaseSources.from_entries([allowed.base + "kiosk/"]),
                           record=attempts.append)
    assert spec.url == url and spec.sha256 == sha
    _resolve(allowed.base + "kiosk/moved.tar.gz", sha, allowed, attempts)
    assert [(a.url, a.outcome, a.size) for a in attempts] == [
        (url, DownloadOutcome.ACCEPTED, len(data)),
        (allowed.base + "kiosk/moved.tar.gz", DownloadOutcome.ACCEPTED, len(data)),
    ]


@pytest.mark.parametrize(
    "make_url",
    [
        lambda a, f: f.base + "kiosk/kiosk-app-1.0.0.tar.gz",  # another host
        lambda a, f: a.base + "private/thing",  # the right host, outside the base path
        lambda a, f: a.base + "kiosk/../private/thing",
        lambda a, f: a.base + "kiosk/%2e%2e/private/thing",
        lambda a, f: a.base.replace("http://", "http://user:pw@") + "kiosk/x.tar.gz",
        lambda a, f: a.base.replace("http://", "file://") + "kiosk/x.tar.gz",
        lambda a, f: a.base + "kiosk/x.tar.gz#frag",
        lambda a, f: a.base + "kiosk/x y.tar.gz",
    ],
)
def test_disallowed_url_is_refused_without_a_request(
    servers: tuple[LoopbackServer, LoopbackServer],
    tarball: tuple[bytes, str],
    make_url: Callable[[LoopbackServer, LoopbackServer], str],
) -> None:
    allowed, foreign = servers
    url = make_url(allowed, foreign)
    attempts: list[DownloadAttempt] = []
    with pytest.raises(ReleaseError, match="not an allowed source") as err:
        _resolve(url, tarball[1], allowed, attempts)
    _opaque(str(err.value), "pw")
    assert allowed.hits == [] and foreign.hits == []
    assert [(a.url, a.outcome) for a in attempts] == [(url, DownloadOutcome.NOT_ALLOWED)]


def test_no_url_is_allowed_without_sources(
    servers: tuple[LoopbackServer, LoopbackServer], tarball: tuple[bytes, str]
) -> None:
    allowed, _ = servers
    with pytest.raises(ReleaseError, match="not an allowed source"):
        resolve_release("1.0.0", url=allowed.base + "kiosk/kiosk-app-1.0.0.tar.gz",
                        sha256=tarball[1])
    assert allowed.hits == []


@pytest.mark.parametrize("path", ["kiosk/away.tar.gz", "kiosk/outside.tar.gz"])
def test_redirect_out_of_the_sources_is_not_followed(
    servers: tuple[LoopbackServer, LoopbackServer], tarball: tuple[bytes, str], path: str
) -> None:
    allowed, foreign = servers
    attempts: list[DownloadAttempt] = []
    with pytest.raises(ReleaseError, match="download failed") as err:
        _resolve(allowed.base + path, tarball[1], allowed, attempts)
    _opaque(str(err.value), "private")
    assert foreign.hits == [] and "/private/thing" not in allowed.hits
    assert attempts[0].outcome == DownloadOutcome.FAILED
    assert attempts[0].reason == "redirect outside the release sources"


def test_slow_drip_server_hits_the_overall_time_limit(
    servers: tuple[LoopbackServer, LoopbackServer], tarball: tuple[bytes, str]
) -> None:
    allowed, _ = servers
    attempts: list[DownloadAttempt] = []
    started = time.monotonic()
    with pytest.raises(ReleaseError, match="download failed"):
        # 10 000 bytes at 20 bytes/s would take 500 s; every single read is quick.
        _resolve(allowed.base + "kiosk/slow.tar.gz", tarball[1], allowed, attempts,
                 timeout=2.0)
    assert time.monotonic() - started < 20  # 2 s limit, generous margin for a loaded host
    assert attempts[0].outcome == DownloadOutcome.FAILED and attempts[0].reason == "timeout"


@pytest.mark.parametrize("path", ["kiosk/big.tar.gz", "kiosk/big-undeclared.tar.gz"])
def test_oversize_body_is_cut_off(
    servers: tuple[LoopbackServer, LoopbackServer], tarball: tuple[bytes, str], path: str
) -> None:
    allowed, _ = servers
    attempts: list[DownloadAttempt] = []
    with pytest.raises(ReleaseError, match="download failed"):
        _resolve(allowed.base + path, tarball[1], allowed, attempts, max_bytes=100_000)
    assert attempts[0].reason == "too_large"
    assert attempts[0].size is None or attempts[0].size <= 100_000 + 65_536


def test_checksum_mismatch_and_http_errors_say_nothing_of_the_answer(
    servers: tuple[LoopbackServer, LoopbackServer], tarball: tuple[bytes, str]
) -> None:
    allowed, _ = servers
    _data, sha = tarball
    attempts: list[DownloadAttempt] = []
    with pytest.raises(ReleaseError, match="checksum mismatch") as err:
        _resolve(allowed.base + "kiosk/kiosk-app-1.0.0.tar.gz", "f" * 64, allowed, attempts)
    _opaque(str(err.value), sha, hashlib.sha256(SECRET_BODY).hexdigest())
    with pytest.raises(ReleaseError, match="download failed") as err:
        _resolve(allowed.base + "kiosk/missing.tar.gz", sha, allowed, attempts)
    _opaque(str(err.value))
    assert [a.outcome for a in attempts] == [DownloadOutcome.MISMATCH, DownloadOutcome.FAILED]
    assert attempts[1].reason == "status 404"


def test_release_sources_setting_is_parsed_strictly() -> None:
    assert parse_release_sources(" /srv/rilis , https://Rilis.Example:8443/kiosk ") == (
        "/srv/rilis",
        "https://rilis.example:8443/kiosk/",
    )
    assert Settings.model_validate({"release_sources": ""}).release_sources == ()
    for bad, why in (
        ("/srv/a,,/srv/b", "entry 2 .* empty"),
        ("releases", "neither an absolute directory"),
        ("ftp://rilis.example/", "http"),
        ("https://u:secret@rilis.example/", "user or password"),
        ("https://rilis.example/?token=1", "query"),
        ("/srv/a,/srv/a", "listed twice"),
        ("http://rilis.example:99999/", "port"),
        ("/srv/../etc", r"'\.\.'"),
    ):
        with pytest.raises(ValidationError, match=why) as err:
            Settings.model_validate({"release_sources": bad})
        assert "secret" not in str(err.value)


# --------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def keys_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """Keys and known_hosts for inventory rows; no sshd (these tests do not connect)."""
    with KioskFleet(tmp_path_factory.mktemp("srcfleet"), ["127.0.3.41", "127.0.3.42"]) as f:
        yield f


def test_api_audits_every_attempt_with_url_and_person(
    engine: Engine,
    sqlite_url: str,
    keys_fleet: KioskFleet,
    servers: tuple[LoopbackServer, LoopbackServer],
    tarball: tuple[bytes, str],
) -> None:
    allowed, foreign = servers
    _data, sha = tarball
    add_kiosks(engine, keys_fleet)
    with session_scope(engine) as session:
        _row, token = create_token(session, "teknisi-budi", Role.TECHNICIAN)
    settings = Settings(database_url=sqlite_url, run_poller=False,
                        release_sources=(allowed.base + "kiosk/",))
    tech = {"Authorization": f"Bearer {token}"}
    good = allowed.base + "kiosk/kiosk-app-1.0.0.tar.gz?build=7"
    with TestClient(create_app(settings)) as http:
        cases = [
            (foreign.base + "kiosk/kiosk-app-1.0.0.tar.gz", sha, "not an allowed source"),
            (allowed.base + "kiosk/away.tar.gz", sha, "download failed"),
            (allowed.base + "kiosk/missing.tar.gz", sha, "download failed"),
            (good, "0" * 64, "checksum mismatch"),
        ]
        for url, checksum, message in cases:
            response = http.post("/api/v1/rollouts", headers=tech, json={
                "version": "1.0.0", "url": url, "sha256": checksum, "devices": ["kiosk-1"],
                "run": False})
            assert response.status_code == 400, response.text
            assert message in response.json()["detail"]
            _opaque(response.text)
        # Downloaded and verified, but the target set is empty: refused, still audited.
        empty = http.post("/api/v1/rollouts", headers=tech, json={
            "version": "1.0.0", "url": good, "sha256": sha, "district": "35.10.99",
            "run": False})
        assert empty.status_code == 400 and "no enabled device" in empty.json()["detail"]
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(Rollout)) == 0
        body = {"version": "1.0.0", "url": good, "sha256": sha.upper(),
                "devices": ["kiosk-1", "kiosk-2"], "canary": 1, "batch": "1", "run": False}
        created = http.post("/api/v1/rollouts", headers=tech, json=body)
        assert created.status_code == 202, created.text
        rid = created.json()["id"]
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        downloads = [r for r in rows if r.action == "rollout.download"]
        assert {r.actor for r in rows} == {"teknisi-budi"}
        assert [(d.details["url"], d.details["outcome"]) for d in downloads] == [
            (foreign.base + "kiosk/kiosk-app-1.0.0.tar.gz", "not_allowed"),
            (allowed.base + "kiosk/away.tar.gz", "failed"),
            (allowed.base + "kiosk/missing.tar.gz", "failed"),
            (good, "checksum_mismatch"),
            (good, "accepted"),
            (good, "accepted"),
        ]
        assert [d.target for d in downloads][-1] == f"rollout:{rid}"
        refused = [r for r in rows if r.action == "rollout.refused"]
        assert len(refused) == 5 and refused[0].details["request"]["url"] == cases[0][0]
        start = [r for r in rows if r.action == "rollout.start"]
        assert len(start) == 1 and start[0].target == f"rollout:{rid}"
        request = start[0].details["request"]
        assert request["version"] == "1.0.0" and request["url"] == good
        assert request["sha256"] == sha.upper() and request["devices"] == ["kiosk-1", "kiosk-2"]
        assert start[0].details["release"]["sha256"] == sha
        created_event = session.scalars(
            select(RolloutEvent).where(RolloutEvent.rollout_id == rid,
                                       RolloutEvent.kind == "created")
        ).one()
        assert good in (created_event.message or "")
