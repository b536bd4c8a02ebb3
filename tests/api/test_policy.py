"""The policy file: strict validation, clear errors naming file and field, refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.readiness.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy
from core.settings import Settings
from kentongan.app import create_app


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_policy_has_the_programme_thresholds() -> None:
    policy = load_policy(DEFAULT_POLICY_PATH)
    assert policy.network.availability.min_percent == 99.0
    assert policy.network.availability.window_days == 30
    assert policy.kiosk.seen.max_age_minutes == 15
    assert policy.human_resources.trained_operator.min_count == 1
    assert policy.incidents.no_open_critical.severities == ["critical"]
    assert {c.id for c in policy.cohorts} >= {"fibre-175"}


@pytest.mark.parametrize(("text", "field", "words"), [
    ("version: x\nnetwork: {availability: {min_percent: 101}}\n",
     "network.availability.min_percent", "less than or equal to 100"),
    ("version: x\nkiosk: {online: {min_cout: 1}}\n", "kiosk.online.min_cout", "Extra inputs"),
    ("version: x\nkiosk: {app_version: {min_version: latest}}\n", "kiosk.app_version.min_version",
     "not a version"),
    ("version: x\nnetwork: {uplink_up: {max_age_minutes: 0}}\n",
     "network.uplink_up.max_age_minutes", "greater than 0"),
    ("version: x\nsurprise: 1\n", "surprise", "Extra inputs"),
    ("network: {}\n", "version", "Field required"),
    ("version: x\ncohorts: [{id: a, name: A, target_percent: 90, target_date: 2027-01-01},"
     " {id: a, name: B, target_percent: 50, target_date: 2027-01-01}]\n", "cohorts", "unique"),
])
def test_bad_policy_is_refused_naming_file_and_field(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert str(path) in message
    assert field in message
    assert words in message
    assert info.value.field == field


def test_unparseable_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(write(tmp_path, "version: [unclosed\n"))
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yml")


def test_create_app_refuses_a_bad_policy_at_start(tmp_path: Path, engine: object) -> None:
    path = write(tmp_path, "version: x\nnetwork: {availability: {window_days: 0}}\n")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'kentongan.db'}", run_poller=False,
                        policy_path=path)
    with pytest.raises(PolicyError, match=r"network\.availability\.window_days"):
        create_app(settings)


def test_settings_policy_path_is_used(tmp_path: Path, engine: object) -> None:
    path = write(tmp_path, "version: custom-1\nkiosk: {app_version: {min_version: '9.0'}}\n")
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'kentongan.db'}",
                              run_poller=False, policy_path=path))
    assert app.state.readiness_policy.version == "custom-1"
    assert app.state.readiness_policy.kiosk.app_version.min_version == "9.0"
