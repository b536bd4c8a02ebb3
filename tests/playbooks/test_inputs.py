"""Bad input is refused with a clear error before anything starts: unknown release, empty
target set, unsafe inventory strings, checksum mismatch. Nothing is written."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from inventory.db import session_scope
from playbooks.errors import ReleaseError, RolloutError, TargetError
from playbooks.models import Rollout, RolloutHost
from playbooks.release import ReleaseSources, resolve_release
from playbooks.rollout import RolloutOptions, create_rollout
from playbooks.runner import UNSAFE_KEY, unsafe, unsafe_inventory, yaml_inventory
from playbooks.sample_app import build_sample_release, release_filename
from playbooks.targets import TargetFilter, ansible_inventory, select_targets
from tests.playbooks.conftest import add_kiosks
from tests.playbooks.kiosks import KioskFleet


def _nothing_written(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Rollout)) == 0
        assert session.scalar(select(func.count()).select_from(RolloutHost)) == 0


@pytest.fixture(scope="module")
def offline_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """Keys and known_hosts only; no sshd is started (nothing here connects)."""
    with KioskFleet(tmp_path_factory.mktemp("offline"), ["127.0.3.11", "127.0.3.12"]) as fleet:
        yield fleet


def test_unknown_release(tmp_path: Path) -> None:
    build_sample_release(tmp_path, "1.0.0")
    with pytest.raises(ReleaseError, match=r"unknown release 7\.7\.7.*available: 1\.0\.0"):
        resolve_release("7.7.7", release_dir=tmp_path)
    with pytest.raises(ReleaseError, match="not valid"):
        resolve_release("1.0; rm -rf /", release_dir=tmp_path)
    with pytest.raises(ReleaseError, match="no release source"):
        resolve_release("1.0.0")


def test_checksum_mismatch(tmp_path: Path) -> None:
    path = build_sample_release(tmp_path, "1.0.0")
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    assert resolve_release("1.0.0", release_dir=tmp_path).sha256 == good
    with pytest.raises(ReleaseError, match="checksum mismatch"):
        resolve_release("1.0.0", release_dir=tmp_path, sha256="0" * 64)
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ReleaseError, match="checksum mismatch"):
        resolve_release("1.0.0", release_dir=tmp_path)
    (tmp_path / (release_filename("1.0.0") + ".sha256")).unlink()
    with pytest.raises(ReleaseError, match="no checksum"):
        resolve_release("1.0.0", release_dir=tmp_path)


@pytest.mark.integration
def test_release_from_url_is_verified_before_start(tmp_path: Path) -> None:
    path = build_sample_release(tmp_path, "1.0.0")
    good = hashlib.sha256(path.read_bytes()).hexdigest()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        sources = ReleaseSources.from_entries([base])
        spec = resolve_release("1.0.0", url=base + path.name, sha256=good, sources=sources)
        assert spec.url and spec.extravars()["kiosk_release_url"] == base + path.name
        with pytest.raises(ReleaseError, match="checksum mismatch"):
            resolve_release("1.0.0", url=base + path.name, sha256="f" * 64, sources=sources)
        with pytest.raises(ReleaseError, match="download failed"):
            resolve_release("1.0.0", url=base + "missing.tar.gz", sha256=good, sources=sources)
        with pytest.raises(ReleaseError, match="needs its --sha256"):
            resolve_release("1.0.0", url=base + path.name)
    finally:
        server.shutdown()
        server.server_close()


def test_empty_target_set_starts_nothing(
    engine: Engine, offline_fleet: KioskFleet, tmp_path: Path
) -> None:
    add_kiosks(engine, offline_fleet)
    build_sample_release(tmp_path, "1.0.0")
    release = resolve_release("1.0.0", release_dir=tmp_path)
    with pytest.raises(TargetError, match=r"no enabled device matches.*district=35\.10\.99"):
        create_rollout(engine, release, target=TargetFilter(district="35.10.99"))
    with pytest.raises(TargetError, match="no enabled kiosk device named nope"):
        create_rollout(engine, release, target=TargetFilter(devices=("kiosk-1", "nope")))
    _nothing_written(engine)


def test_shell_metacharacters_in_inventory_are_refused(
    engine: Engine, offline_fleet: KioskFleet, tmp_path: Path
) -> None:
    add_kiosks(engine, offline_fleet, bad_address="10.0.0.1; rm -rf /")
    build_sample_release(tmp_path, "1.0.0")
    release = resolve_release("1.0.0", release_dir=tmp_path)
    with pytest.raises(TargetError, match=r"kiosk-evil: address '10\.0\.0\.1; rm -rf /'"):
        create_rollout(engine, release, target=TargetFilter(district="35.10.16"))
    _nothing_written(engine)
    # The other kiosks are fine on their own.
    with session_scope(engine) as session:
        assert [t.device_id for t in select_targets(session, TargetFilter(tags=("pilot",)))] == [
            "kiosk-1",
            "kiosk-2",
        ]


def test_bad_options_and_connection_overrides_are_refused(
    engine: Engine, offline_fleet: KioskFleet, tmp_path: Path
) -> None:
    add_kiosks(engine, offline_fleet)
    build_sample_release(tmp_path, "1.0.0")
    release = resolve_release("1.0.0", release_dir=tmp_path)
    target = TargetFilter(devices=("kiosk-1",))
    for options, pattern in (
        (RolloutOptions(batch="lots"), "batch size"),
        (RolloutOptions(max_fail=250), "between 0% and 100%"),
        (RolloutOptions(extra_vars={"ansible_ssh_common_args": "-o ProxyCommand=sh"}),
         "connection settings"),
        (RolloutOptions(extra_vars={"bad-name": 1}), "not a valid Ansible name"),
    ):
        with pytest.raises(RolloutError, match=pattern):
            create_rollout(engine, release, target=target, options=options)
    _nothing_written(engine)


def test_inventory_carries_connection_vars_and_known_hosts(
    engine: Engine, offline_fleet: KioskFleet
) -> None:
    add_kiosks(engine, offline_fleet)
    with session_scope(engine) as session:
        targets = select_targets(session, TargetFilter(district="35.10.15"))
    inv = ansible_inventory(targets)
    assert inv["kiosks"]["hosts"] == ["kiosk-1", "kiosk-2"]
    hv = inv["_meta"]["hostvars"]["kiosk-1"]
    assert hv["ansible_host"] == "127.0.3.11"
    assert hv["ansible_user"] == "root" and "ansible_become" not in hv
    assert hv["ansible_ssh_private_key_file"] == str(offline_fleet.client_key)
    assert f"UserKnownHostsFile={offline_fleet.known_hosts}" in hv["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in hv["ansible_ssh_common_args"]
    assert hv["kiosk_village_code"] == "35.10.15.2004"
    yaml_form = yaml_inventory(inv)
    assert yaml_form["all"]["children"]["kiosks"]["hosts"]["kiosk-1"] == hv
    assert set(yaml_form["all"]["children"]["kiosks"]["hosts"]) == set(inv["kiosks"]["hosts"])
    # What Ansible is given: every string marked unsafe, numbers and booleans as they are.
    given = unsafe_inventory(inv)["all"]["children"]["kiosks"]["hosts"]["kiosk-1"]
    assert given["ansible_host"] == {UNSAFE_KEY: "127.0.3.11"}
    assert given["ansible_port"] == hv["ansible_port"]
    assert given["kiosk_village_code"] == {UNSAFE_KEY: "35.10.15.2004"}


def test_unsafe_marks_every_string_and_refuses_template_keys() -> None:
    value = {"a": "{{ x }}", "b": [1, "{% y %}", {"c": None, "d": True}], "e": 2.5,
             "f": {UNSAFE_KEY: "kept"}}
    assert unsafe(value) == {
        "a": {UNSAFE_KEY: "{{ x }}"},
        "b": [1, {UNSAFE_KEY: "{% y %}"}, {"c": None, "d": True}],
        "e": 2.5,
        "f": {UNSAFE_KEY: "kept"},
    }
    with pytest.raises(ValueError, match=r"extra\.b: the key '\{\{ k \}\}'"):
        unsafe({"b": {"{{ k }}": 1}}, where="extra")
