"""Targets from the inventory: protocol choice, intervals, secrets resolved at poll time
from env or file, clear configuration errors that never carry the secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from collectors.base import Secret
from collectors.targets import CredentialError, choose_protocol, load_entries
from inventory.db import session_scope
from inventory.models import Device, SnmpProfile, SshProfile
from tests.collectors.conftest import seed_inventory


@pytest.fixture
def inv(engine: Engine, tmp_path: Path) -> Engine:
    seed_inventory(engine)
    key = tmp_path / "kiosk_ed25519"
    key.write_text("not really a key\n")
    (tmp_path / "auth.key").write_text("auth-from-file\n")
    with session_scope(engine) as s:
        s.add_all([
            SnmpProfile(name="v3", version="3", user="monitor", auth="sha",
                        auth_key_file=str(tmp_path / "auth.key"), priv="aes",
                        priv_key_env="KTG_TEST_PRIV"),
            SnmpProfile(name="v2", version="2c", community_env="KTG_TEST_COMMUNITY"),
            SshProfile(name="kiosk", username="kentongan", key_file=str(key)),
            SshProfile(name="nokey", username="kentongan",
                       key_file=str(tmp_path / "missing_ed25519")),
        ])
        s.flush()
        s.get(Device, "olt-glagah").snmp_profile = "v3"  # type: ignore[union-attr]
        rtr = s.get(Device, "rtr-kemiren")
        assert rtr is not None
        rtr.snmp_profile, rtr.ssh_profile, rtr.poll_interval = "v2", "kiosk", 30.0
        k = s.get(Device, "kiosk-kemiren-1")
        assert k is not None
        k.snmp_profile, k.ssh_profile = "v2", "kiosk"
        s.add(Device(id="ont-x", site_id="kantor-desa-kemiren", role="ont", address="10.0.0.9"))
        s.add(Device(id="off", site_id="kantor-desa-kemiren", role="ont", address="10.0.0.8",
                     enabled=False, snmp_profile="v2"))
    return engine


def entries(engine: Engine) -> dict[str, object]:
    with session_scope(engine) as s:
        return {e.device_id: e for e in load_entries(s, default_interval=60.0,
                                                     role_intervals={"kiosk": 300.0})}


def test_protocol_interval_and_enabled(inv: Engine) -> None:
    got = entries(inv)
    assert set(got) == {"olt-glagah", "rtr-kemiren", "kiosk-kemiren-1", "ont-x"}
    assert got["kiosk-kemiren-1"].protocol == "ssh"  # type: ignore[attr-defined]
    assert got["kiosk-kemiren-1"].interval_seconds == 300.0  # type: ignore[attr-defined]
    assert got["kiosk-kemiren-1"].device_type == "linux"  # type: ignore[attr-defined]
    assert got["rtr-kemiren"].protocol == "snmp"  # type: ignore[attr-defined]
    assert got["rtr-kemiren"].interval_seconds == 30.0  # type: ignore[attr-defined]
    assert got["ont-x"].protocol == ""  # type: ignore[attr-defined]
    assert choose_protocol("ups", has_snmp=False, has_ssh=True) == "ssh"


def test_secrets_resolved_at_poll_time(inv: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    got = entries(inv)
    olt = got["olt-glagah"]
    monkeypatch.delenv("KTG_TEST_PRIV", raising=False)
    with pytest.raises(CredentialError) as err:
        olt.resolve()  # type: ignore[attr-defined]
    assert "KTG_TEST_PRIV is not set" in str(err.value) and "olt-glagah" in str(err.value)
    monkeypatch.setenv("KTG_TEST_PRIV", "priv-secret-value")
    target = olt.resolve()  # type: ignore[attr-defined]
    assert target.snmp.auth_key == Secret("auth-from-file")
    assert target.snmp.priv_key.get() == "priv-secret-value"
    assert "priv-secret-value" not in repr(target)
    kiosk = got["kiosk-kemiren-1"].resolve(default_known_hosts="/etc/kh")  # type: ignore[attr-defined]
    assert kiosk.ssh.known_hosts_file == "/etc/kh" and kiosk.snmp is None


def test_missing_key_file_and_no_profile_are_configuration_errors(
    inv: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(inv) as s:
        s.get(Device, "kiosk-kemiren-1").ssh_profile = "nokey"  # type: ignore[union-attr]
    got = entries(inv)
    with pytest.raises(CredentialError, match="missing_ed25519 does not exist"):
        got["kiosk-kemiren-1"].resolve()  # type: ignore[attr-defined]
    with pytest.raises(CredentialError, match="no snmp or ssh credentials profile"):
        got["ont-x"].resolve()  # type: ignore[attr-defined]
    monkeypatch.setenv("KTG_TEST_COMMUNITY", "c0mmunity")
    assert got["rtr-kemiren"].resolve().snmp.community.get() == "c0mmunity"  # type: ignore[attr-defined]
